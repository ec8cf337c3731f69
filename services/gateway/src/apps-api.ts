/**
 * Apps: `POST /fn/register` (an app registers its functions), `GET /v1/apps` (the registered apps
 * and the synced URLs), `DELETE /v1/apps/:appId` and `DELETE /v1/apps?url=` (retiring one), and
 * `POST /v1/apps` and `/v1/apps/sync` (adding a URL and syncing it now).
 */
import { type AppUrlPolicy, MAX_URL_LENGTH, MaxBodyBytes, subjectProblem } from "@jetstep/core";
import type { Registry } from "@jetstep/jetstream";
import type { Logger } from "@jetstep/telemetry";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import {
  forgetSync,
  listSyncStatuses,
  recordSync,
  type SyncStatuses,
  syncByHand,
  syncKey,
} from "./app-sync.ts";
import { parseJson } from "./json-body.ts";
import { type RegisterDeps, registerApp, unauthorizedRegistration } from "./register-app.ts";

export interface AppRouteDeps {
  registry: Registry;
  syncStatuses: SyncStatuses;
  appUrls: AppUrlPolicy;
  /** What `POST /fn/register` stores registrations with (the NATS register uses the same). */
  register: RegisterDeps;
  /** Production: apps must prove they hold this key to register. */
  signingKey?: string | undefined;
  log: Logger;
  now: () => number;
}

// biome-ignore lint/suspicious/noExplicitAny: the gateway's fastify instance carries a custom logger type
type App = FastifyInstance<any, any, any, any>;

export function registerAppRoutes(app: App, deps: AppRouteDeps): void {
  registerRegistrationRoute(app, deps);
  registerAppListRoute(app, deps);
  registerAppRemoveRoutes(app, deps);
  registerAppSyncRoutes(app, deps);
}

function registerRegistrationRoute(app: App, deps: AppRouteDeps): void {
  app.post(
    "/fn/register",
    {
      bodyLimit: MaxBodyBytes.large,
      // The signing key is checked before the body is read.
      onRequest: async (req, reply) => {
        const unauthorized = unauthorizedRegistration(req.headers.authorization, deps.signingKey);
        if (unauthorized) return reply.status(unauthorized.status).send(unauthorized.body);
      },
    },
    async (req, reply) => {
      const deployId = (req.query as Record<string, unknown>).deployId;
      const answer = await registerApp(
        typeof req.body === "string" ? req.body : "",
        deps.register,
        typeof deployId === "string" ? deployId : undefined,
      );
      return reply.status(answer.status).send(answer.body);
    },
  );
}

function registerAppListRoute(app: App, { registry, syncStatuses }: AppRouteDeps): void {
  app.get("/v1/apps", async () => {
    const statuses = await listSyncStatuses(syncStatuses);
    const apps = registry
      .listApps()
      .map((a) => ({ ...a, sync: statuses.find((st) => st.url === a.url) ?? null }));
    // URLs that never registered an app (down, wrong path…) are listed with their sync error.
    const orphans = statuses
      .filter((st) => !apps.some((a) => a.url === st.url))
      .map((st) => ({ appId: null, url: st.url, functions: [], syncedAt: null, sync: st }));
    return { data: [...apps, ...orphans] };
  });
}

// Retiring an app: its functions are no longer triggered or called (runs already started keep
// their URL and go on), and its URL leaves the periodic sync. `?url=` removes a URL that never
// registered an app. A `-u` URL is synced again (and re-registers): remove it from the command.
function registerAppRemoveRoutes(app: App, { registry, syncStatuses, log, now }: AppRouteDeps): void {
  app.delete<{ Params: { appId: string } }>("/v1/apps/:appId", async (req, reply) => {
    const known = registry.listApps().find((a) => a.appId === req.params.appId);
    // Forgotten first: a registration answering a sync of its URL under way is refused from here.
    if (known) await forgetSync(syncStatuses, known.url, now());
    if (!(await registry.remove(req.params.appId)))
      return reply.status(404).send({ error: `app ${req.params.appId} not found` });
    log.info({ appId: req.params.appId, url: known?.url }, "app removed");
    return { data: { app_id: req.params.appId, url: known?.url ?? null, removed: true } };
  });
  app.delete<{ Querystring: { url?: string } }>("/v1/apps", async (req, reply) => {
    const url = req.query.url;
    if (typeof url !== "string" || url === "")
      return reply.status(400).send({ error: "url: give the URL to remove as ?url=" });
    const listed = (await listSyncStatuses(syncStatuses)).some((st) => st.url === url);
    if (!listed) return reply.status(404).send({ error: `url: ${url} is not synced` });
    await forgetSync(syncStatuses, url, now());
    return { data: { url, removed: true } };
  });
}

function registerAppSyncRoutes(app: App, { syncStatuses, appUrls, signingKey, now }: AppRouteDeps): void {
  const syncNow = (url: string) => syncByHand(syncStatuses, url, { signingKey, now });

  for (const path of ["/v1/apps", "/v1/apps/sync"]) {
    app.post(path, async (req, reply) => {
      const body = parseJson(typeof req.body === "string" ? req.body : "");
      if (!body.ok) return reply.status(400).send({ error: body.error });
      const parsed = UrlBody.safeParse(body.value);
      if (!parsed.success) {
        return reply.status(400).send({
          error: `${parsed.error.issues[0]?.path.join(".") || "(body)"}: ${parsed.error.issues[0]?.message}`,
        });
      }
      const refused = appUrls.problem(parsed.data.url);
      if (refused) return reply.status(400).send({ error: `url: ${refused}` });
      // Adding records the URL first, so the periodic sync keeps trying even if this attempt fails.
      if (path === "/v1/apps")
        await recordSync(syncStatuses, {
          url: parsed.data.url,
          ok: false,
          error: "not synced yet",
          at: now(),
        });
      return { data: await syncNow(parsed.data.url) };
    });
  }
}

/** `POST /v1/apps` and `/v1/apps/sync`: an app URL, which becomes a key of the FUNCTIONS bucket. */
const UrlBody = z
  .object({
    url: z
      .string({ error: "is required and must be a string" })
      .max(MAX_URL_LENGTH, { error: `must be at most ${MAX_URL_LENGTH} characters`, abort: true })
      .url("must be an http(s) URL")
      .refine((url) => /^https?:\/\//i.test(url), "must be an http(s) URL")
      .superRefine((url, ctx) => {
        const problem = subjectProblem(syncKey(url));
        if (problem) ctx.addIssue({ code: "custom", message: problem });
      }),
  })
  .strict();
