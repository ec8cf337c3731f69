/**
 * The external programs Jetstep runs, pinned: this is the one place their versions are set. Both
 * are built from source with the Go toolchain (`jetstep install`), once, into a cache directory.
 */
export interface ToolSpec {
  /** Binary name, also the cache folder's. */
  readonly name: "nats-server" | "jaeger";
  /** Pinned release, without the leading `v`. */
  readonly version: string;
  /** Go module and main package (`go install <pkg>@v<version>`). */
  readonly module: string;
  readonly pkg: string;
  /** Oldest Go that builds it (the module's `go` line). */
  readonly minGo: string;
  /**
   * `go install pkg@version` refuses a module whose go.mod has `replace` directives (Jaeger's
   * does); such a tool is built as a tool dependency of a throwaway module instead.
   */
  readonly viaToolModule: boolean;
  /** Go linker flags (e.g. to stamp the version into a binary that does not do it itself). */
  readonly ldflags?: string;
  /** Arguments that make the binary print its version. */
  readonly versionArgs: readonly string[];
  /** How long a cold build took on a 2-vCPU machine here, for the progress line. */
  readonly coldBuild: string;
}

export const Tools = {
  natsServer: {
    name: "nats-server",
    version: "2.15.2",
    module: "github.com/nats-io/nats-server/v2",
    pkg: "github.com/nats-io/nats-server/v2",
    minGo: "1.26.0",
    viaToolModule: false,
    versionArgs: ["--version"],
    coldBuild: "about 1 minute",
  },
  jaeger: {
    name: "jaeger",
    // Jaeger's v2 binary; its Go module tags are v1.x (v1.76.0 is the v2.13.0 release).
    version: "1.76.0",
    module: "github.com/jaegertracing/jaeger",
    pkg: "github.com/jaegertracing/jaeger/cmd/jaeger",
    minGo: "1.24.6",
    viaToolModule: true,
    ldflags: "-X github.com/jaegertracing/jaeger/internal/version.latestVersion=v1.76.0",
    versionArgs: ["version"],
    coldBuild: "about 5 minutes",
  },
} as const satisfies Record<string, ToolSpec>;

export type ToolName = ToolSpec["name"];

export function toolByName(name: string): ToolSpec | undefined {
  return Object.values(Tools).find((t) => t.name === name);
}
