export { authRequired, type Credential, credentialCheck } from "./api-auth.ts";
export {
  listSyncStatuses,
  recordSync,
  recordSyncIfListed,
  SYNC_GIVE_UP_AFTER,
  type SyncStatus,
  type SyncStatuses,
  standbySince,
  syncAppUrl,
} from "./app-sync.ts";
export { buildGateway, defaultGatewayConfig, type GatewayConfig, type GatewayDeps } from "./gateway.ts";
export { IngestError, parseEvents, storeEvents } from "./ingest.ts";
export { checkSyncToken, SYNC_TOKEN_TTL_MS, syncRequestUrl, syncToken } from "./sync-token.ts";
