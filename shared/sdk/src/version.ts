/** Version of this SDK package (kept in step with package.json). */
export const SDK_VERSION = "0.1.0";

/** How the SDK identifies itself: the `x-inngest-sdk` header and the register body's `sdk` field. */
export const SDK_IDENT = `js:jetstep-v${SDK_VERSION}`;
