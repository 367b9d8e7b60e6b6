/* Generated from the x-contract-version of cloud/workers/schema/ by `npm run generate` (cloud/host): do not edit. */

/** The `contractVersion` every document of these workers carries; compare it to detect a mismatched worker. */
export const CONTRACT_VERSION = "2.0";
