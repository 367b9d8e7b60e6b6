/* eslint-disable */
/* Generated from cloud/workers/schema/health_check.input.schema.json by `npm run generate` (cloud/host): do not edit. */

/**
 * The job cloud/workers/health_check.py reads on stdin.
 */
export interface HealthJob {
  live?: boolean;
  deep?: boolean;
  timeoutMs?: number;
}
