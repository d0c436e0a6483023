// The actions an access rule or a robot token grants on a repository. Apart from
// auth-config.ts (the zod schema) so that request-time code does not load the validators.
export const ACTIONS = ['pull', 'push', 'delete'] as const;
export type Action = (typeof ACTIONS)[number];
