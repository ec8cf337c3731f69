export { buildGateway, defaultGatewayConfig, type GatewayConfig, type GatewayDeps } from "./gateway.ts";
export { IngestError, parseEvents, storeEvents } from "./ingest.ts";
