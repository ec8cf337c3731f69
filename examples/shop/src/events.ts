/** The events the two services exchange; each service reacts to the other's. */
export const ShopEvents = {
  /** Sent by the storefront (or `curl`): starts `orders/place-order`. */
  orderPlaced: "shop/order.placed",
  /** Sent by `orders` once an order is paid: `billing/send-receipt` reacts. */
  orderConfirmed: "shop/order.confirmed",
  /** Sent by `billing` when it issues an invoice: `orders/record-invoice` reacts. */
  invoiceCreated: "billing/invoice.created",
  /** Trigger of `billing/charge-card` (which `orders` calls with step.invoke). */
  chargeRequested: "billing/charge.requested",
} as const;

/** Charges above this are declined by the (pretend) card processor. */
export const CARD_LIMIT = 1000;

export interface OrderData {
  orderId: string;
  sku: string;
  quantity: number;
  amount: number;
}

export interface ChargeResult {
  chargeId: string;
  invoiceId: string;
  amount: number;
}
