/**
 * The `orders` service, served over HTTP (`serve`): places orders. `place-order` reserves stock
 * (compensated — released — if the order fails later), charges the card by invoking billing's
 * `charge-card` over there, and announces the confirmed order; `record-invoice` files the
 * invoices billing announces.
 */
import { trace } from "@opentelemetry/api";
import { Jetstep, NonRetriableError, referenceFunction } from "jetstep";
import { type ChargeResult, type OrderData, ShopEvents } from "./events.ts";

export const orders = new Jetstep({ id: "orders" });
const tracer = trace.getTracer("shop-orders");

/** Stock per SKU (in memory: a demo, not a warehouse). */
const stock = new Map<string, number>([
  ["tea", 1_000_000],
  ["mug", 1_000_000],
]);

const chargeCard = referenceFunction({ appId: "billing", functionId: "charge-card" });

export const placeOrder = orders.createFunction(
  { id: "place-order", retries: 3 },
  { event: ShopEvents.orderPlaced },
  async ({ event, step, logger }) => {
    const order = parseOrder(event.data);
    const reservation = await step.run(
      "reserve-stock",
      () =>
        // An app span: with tracing on, it shows under this step's span in the run's trace.
        tracer.startActiveSpan("warehouse: reserve", (span) => {
          try {
            span.setAttributes({ "shop.sku": order.sku, "shop.quantity": order.quantity });
            const left = stock.get(order.sku) ?? 0;
            if (left < order.quantity) throw new NonRetriableError(`out of stock: ${order.sku}`);
            stock.set(order.sku, left - order.quantity);
            return { sku: order.sku, quantity: order.quantity };
          } finally {
            span.end();
          }
        }),
      {
        // Saga: if a later step fails for good (a declined card), put the stock back.
        compensate: (r) => {
          stock.set(r.sku, (stock.get(r.sku) ?? 0) + r.quantity);
          logger.info({ orderId: order.orderId, sku: r.sku }, "stock released");
          return { released: r.quantity, sku: r.sku };
        },
      },
    );
    // Runs in the billing service (a NATS worker); its failure is thrown here.
    const charge = await step.invoke<ChargeResult>("charge-card", {
      function: chargeCard,
      data: { orderId: order.orderId, amount: order.amount },
      timeout: "5m",
    });
    await step.sendEvent("announce-confirmed", {
      name: ShopEvents.orderConfirmed,
      data: { orderId: order.orderId, chargeId: charge.chargeId, amount: order.amount },
    });
    return { orderId: order.orderId, status: "confirmed", reservation, chargeId: charge.chargeId };
  },
);

export const recordInvoice = orders.createFunction(
  { id: "record-invoice" },
  { event: ShopEvents.invoiceCreated },
  async ({ event, step }) =>
    step.run("file-invoice", () => ({
      orderId: String(event.data.orderId),
      invoiceId: String(event.data.invoiceId),
      filed: true,
    })),
);

/** Checks an order event's data; a bad field fails the run at once, naming the field. */
export function parseOrder(data: Record<string, unknown>): OrderData {
  const fail = (field: string, why: string): never => {
    throw new NonRetriableError(`event.data.${field} ${why}`);
  };
  const { orderId, sku, quantity, amount } = data;
  if (typeof orderId !== "string" || orderId === "") fail("orderId", "must be a non-empty string");
  if (typeof sku !== "string" || !stock.has(sku))
    fail("sku", `must be one of ${[...stock.keys()].join(", ")}`);
  if (!Number.isInteger(quantity) || (quantity as number) < 1) fail("quantity", "must be a positive integer");
  if (typeof amount !== "number" || !(amount > 0)) fail("amount", "must be a positive number");
  return { orderId, sku, quantity, amount } as OrderData;
}

export const ordersFunctions = [placeOrder, recordInvoice];
