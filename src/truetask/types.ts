/**
 * The Truetask members API bodies as this client understands them (contract v1, see
 * docs/truetask-api.md). Every response is parsed with these schemas; adapting to a
 * different real body is a change here (and in client.ts), nowhere else.
 */
import { z } from 'zod';

export const roleSchema = z.enum(['owner', 'admin', 'user']);
export type Role = z.infer<typeof roleSchema>;

/** A role the API may give: `owner` cannot be given over the API. */
export type GrantableRole = 'admin' | 'user';

/** Unknown extra fields are tolerated (and dropped); the ones we use must be present and typed. */
export const userSchema = z.object({
  id: z.string().min(1),
  email: z.string().min(1),
  name: z.string(),
  role: roleSchema,
  verified: z.boolean(),
  created: z.string(),
  updated: z.string(),
});
export type TruetaskUser = z.infer<typeof userSchema>;

export function listPageSchema<T extends z.ZodType>(item: T) {
  return z.object({
    page: z.number().int().min(1),
    perPage: z.number().int().min(1),
    totalItems: z.number().int().min(0),
    totalPages: z.number().int().min(0),
    items: z.array(item),
  });
}

export const userListSchema = listPageSchema(userSchema);
export type UserListPage = z.infer<typeof userListSchema>;

export const errorBodySchema = z.object({
  error: z.string(),
  message: z.string(),
  fields: z.record(z.string(), z.string()).optional(),
});
export type ErrorBody = z.infer<typeof errorBodySchema>;

export interface CreateUserInput {
  email: string;
  name: string;
  role: GrantableRole;
  verified: true;
  /** Sent as both `password` and `passwordConfirm`; never logged or echoed. */
  password: string;
}
