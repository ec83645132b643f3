export { createTruetaskClient, LIST_PAGE_SIZE, type ListedUser, type TruetaskClient, type TruetaskClientOptions } from './client.ts';
export {
  TruetaskApiError,
  UserExistsError,
  UserNotFoundError,
  isUserExistsError,
  isUserNotFoundError,
} from './errors.ts';
export { backoffDelayMs, parseRetryAfterMs, resolveRetryPolicy, defaultRetryPolicy, type RetryPolicy } from './backoff.ts';
export type { TruetaskUser, Role, GrantableRole, CreateUserInput } from './types.ts';
