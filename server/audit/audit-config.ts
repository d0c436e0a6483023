// The `audit` section of the server configuration (docs/configuration.md "audit"). Kept apart
// from server/config.ts, which only mounts it.
import { z } from 'zod';

export const AuditConfigSchema = z
  .strictObject({
    /** Append one JSON line per change to this file (created with mode 0640; never truncated). */
    file: z.string().default(''),
    /** Also write the lines to standard output (beside the server's own log lines). */
    stdout: z.boolean().default(false),
    /** Names of `notifications.endpoints` that also receive every audit record. */
    endpoints: z.array(z.string().min(1)).default([]),
    /** Also record reads (manifest and blob pulls); off by default: reads are many. */
    reads: z.boolean().default(false),
  })
  .prefault({});

export type AuditConfig = z.output<typeof AuditConfigSchema>;

/** `endpoints` must name configured notification endpoints. */
export function auditConfigProblems(a: AuditConfig, endpointNames: string[]): string[] {
  return a.endpoints.filter((n) => !endpointNames.includes(n)).map((n) => `audit.endpoints: ${JSON.stringify(n)} is not among notifications.endpoints`);
}

export function auditEnabled(a: AuditConfig): boolean {
  return a.file !== '' || a.stdout || a.endpoints.length > 0;
}
