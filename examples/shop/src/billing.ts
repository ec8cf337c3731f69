/**
 * The `billing` service, a NATS worker (`worker`): charges cards for orders and sends receipts.
 * `charge-card` is invoked by orders' `place-order`; it announces each invoice
 * (`billing/invoice.created`, which orders files). `send-receipt` reacts to orders' confirmations.
 */
import { trace } from "@opentelemetry/api";
import { Jetstep, NonRetriableError } from "jetstep";
import { CARD_LIMIT, type ChargeResult, ShopEvents } from "./events.ts";

export const billing = new Jetstep({ id: "billing" });
const tracer = trace.getTracer("shop-billing");

export const chargeCard = billing.createFunction(
  { id: "charge-card", retries: 3 },
  { event: ShopEvents.chargeRequested },
  async ({ event, step }): Promise<ChargeResult> => {
    const orderId = event.data.orderId;
    const amount = event.data.amount;
    if (typeof orderId !== "string" || orderId === "")
      throw new NonRetriableError("event.data.orderId must be a non-empty string");
    if (typeof amount !== "number" || !(amount > 0))
      throw new NonRetriableError("event.data.amount must be a positive number");
    const chargeId = await step.run("authorize", () =>
      // An app span: with tracing on, it shows under this step's span in the run's trace.
      tracer.startActiveSpan("card network: authorize", (span) => {
        try {
          span.setAttribute("shop.amount", amount);
          if (amount > CARD_LIMIT) throw new NonRetriableError(`card declined: ${amount} is over the limit`);
          return `ch_${orderId}`;
        } finally {
          span.end();
        }
      }),
    );
    const invoiceId = await step.run("issue-invoice", () => `inv_${orderId}`);
    await step.sendEvent("announce-invoice", {
      name: ShopEvents.invoiceCreated,
      data: { orderId, invoiceId, amount },
    });
    return { chargeId, invoiceId, amount };
  },
);

export const sendReceipt = billing.createFunction(
  { id: "send-receipt" },
  { event: ShopEvents.orderConfirmed },
  async ({ event, step, logger }) =>
    step.run("email-receipt", () => {
      logger.info({ orderId: event.data.orderId }, "receipt sent");
      return { orderId: String(event.data.orderId), receipt: `rcpt_${event.data.orderId}` };
    }),
);

export const billingFunctions = [chargeCard, sendReceipt];
