/**
 * The contract's validation rules, strictly: anything the contract does not allow
 * is refused with a 400 and a per-field message. Messages never quote values
 * (a value may be a password).
 */

export type Fields = Record<string, string>;
export type Validation<T> = { ok: true; value: T } | { ok: false; message: string; fields: Fields };

export const MAX_PER_PAGE = 500;
export const DEFAULT_PER_PAGE = 100;
/**
 * Shortest password the simulator takes. Truetask's own floor is 12; the
 * simulator holds the operator to the spec's rule 1 (a CSPRNG password of at
 * least 24 characters), so a test fails if a shorter one is ever sent.
 */
export const MIN_PASSWORD = 24;

export interface ListQuery {
  page: number;
  perPage: number;
  email?: string;
}

function positiveInt(text: string): number | undefined {
  if (!/^[0-9]{1,15}$/.test(text)) return undefined;
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : undefined;
}

export function validateListQuery(params: URLSearchParams, allowEmail: boolean): Validation<ListQuery> {
  const fields: Fields = {};
  const allowed = new Set(['page', 'perPage', ...(allowEmail ? ['email'] : [])]);
  const counts = new Map<string, number>();
  for (const key of params.keys()) counts.set(key, (counts.get(key) ?? 0) + 1);
  for (const [key, count] of counts) {
    if (!allowed.has(key)) fields[key] = 'unknown query parameter';
    else if (count > 1) fields[key] = 'given more than once';
  }
  let page = 1;
  let perPage = DEFAULT_PER_PAGE;
  const pageText = params.get('page');
  if (pageText !== null && fields.page === undefined) {
    const n = positiveInt(pageText);
    if (n === undefined || n < 1) fields.page = 'must be an integer >= 1';
    else page = n;
  }
  const perPageText = params.get('perPage');
  if (perPageText !== null && fields.perPage === undefined) {
    const n = positiveInt(perPageText);
    if (n === undefined || n < 1 || n > MAX_PER_PAGE) fields.perPage = `must be an integer from 1 to ${MAX_PER_PAGE}`;
    else perPage = n;
  }
  const email = allowEmail ? params.get('email') : null;
  if (email !== null && fields.email === undefined && email.trim() === '') fields.email = 'must not be empty';
  if (Object.keys(fields).length > 0) return { ok: false, message: 'Invalid query parameters.', fields };
  return { ok: true, value: { page, perPage, ...(email !== null ? { email } : {}) } };
}

const emailPattern =
  /^[^\s@"(),:;<>[\]\\]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

export function isValidEmail(email: string): boolean {
  return email.length <= 254 && emailPattern.test(email);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export interface CreateBody {
  email: string;
  name: string;
  role: 'admin' | 'user';
  verified: boolean;
  password: string;
}

const createKeys = new Set(['email', 'name', 'role', 'verified', 'password', 'passwordConfirm']);

function checkRole(value: unknown, fields: Fields): 'admin' | 'user' | undefined {
  if (value === undefined) fields.role = 'required';
  else if (typeof value !== 'string') fields.role = 'must be a string';
  else if (value === 'owner') fields.role = 'owner cannot be given over the API; use admin or user';
  else if (value !== 'admin' && value !== 'user') fields.role = 'must be admin or user';
  else return value;
  return undefined;
}

export function validateCreateBody(body: unknown): Validation<CreateBody> {
  if (!isObject(body)) return { ok: false, message: 'The body must be a JSON object.', fields: {} };
  const fields: Fields = {};
  for (const key of Object.keys(body)) {
    if (!createKeys.has(key)) fields[key] = 'unknown field';
  }
  const { email, name, verified, password, passwordConfirm } = body;

  if (email === undefined) fields.email = 'required';
  else if (typeof email !== 'string') fields.email = 'must be a string';
  else if (!isValidEmail(email)) fields.email = 'must be a valid email address';

  if (name === undefined) fields.name = 'required';
  else if (typeof name !== 'string') fields.name = 'must be a string';
  else if (name.trim() === '') fields.name = 'must not be empty';
  else if (name.length > 255) fields.name = 'must be at most 255 characters';

  const role = checkRole(body.role, fields);

  if (verified !== undefined && typeof verified !== 'boolean') fields.verified = 'must be a boolean';

  if (password === undefined) fields.password = 'required';
  else if (typeof password !== 'string') fields.password = 'must be a string';
  else if ([...password].length < MIN_PASSWORD) fields.password = `must be at least ${MIN_PASSWORD} characters`;

  if (passwordConfirm === undefined) fields.passwordConfirm = 'required';
  else if (typeof passwordConfirm !== 'string') fields.passwordConfirm = 'must be a string';
  else if (typeof password === 'string' && passwordConfirm !== password) fields.passwordConfirm = 'does not match password';

  if (Object.keys(fields).length > 0 || role === undefined) {
    return { ok: false, message: 'Failed to create the user: invalid fields.', fields };
  }
  return {
    ok: true,
    value: {
      email: email as string,
      name: name as string,
      role,
      verified: verified === true,
      password: password as string,
    },
  };
}

export function validatePatchBody(body: unknown): Validation<{ role: 'admin' | 'user' }> {
  if (!isObject(body)) return { ok: false, message: 'The body must be a JSON object.', fields: {} };
  const fields: Fields = {};
  for (const key of Object.keys(body)) {
    if (key !== 'role') fields[key] = 'unknown field (only role can be changed)';
  }
  const role = checkRole(body.role, fields);
  if (Object.keys(fields).length > 0 || role === undefined) {
    return { ok: false, message: 'Failed to update the user: invalid fields.', fields };
  }
  return { ok: true, value: { role } };
}
