/**
 * A paged search (RFC 2696 simple paged results) that asks the DC for the next page
 * before it hands the current one on. ldapts' searchPaginated converts a page and waits
 * for the caller to finish with it before it sends the next request, so the DC (a
 * single-process Samba in the tests) sits idle while Node works; here the DC prepares
 * page N+1 while page N is converted and planned.
 *
 * Only one search request is outstanding at a time, as before: the next request goes out
 * once the current page's SearchResultDone (which carries the cookie) has arrived, so the
 * session's per-answer guards (bytes, entries per answer) still see one answer at a time.
 *
 * ldapts (pinned) has no public call that sends a paged request with a given cookie and
 * returns the response's controls; this uses its Client's `_send` and `_nextMessageId`,
 * checked here so that an ldapts upgrade that drops them fails loudly, never silently.
 */
import { Client, PagedResultsControl, SearchRequest, StatusCodeParser, type Entry, type Filter, type SearchEntry, type SearchResponse } from 'ldapts';

/** What this module needs of an ldapts Client beyond its public API. */
interface ClientInternals {
  _send(message: SearchRequest): Promise<SearchResponse | undefined>;
  _nextMessageId(): number;
}

function internalsOf(client: Client): ClientInternals {
  const c = client as unknown as Partial<ClientInternals>;
  if (typeof c._send !== 'function' || typeof c._nextMessageId !== 'function') {
    throw new Error('ldapts Client no longer has _send/_nextMessageId: the paged search needs them (check the pinned ldapts version)');
  }
  return c as ClientInternals;
}

export interface PagedRequest {
  base: string;
  filter: Filter;
  scope: 'base' | 'one' | 'sub';
  attributes: string[];
  pageSize: number;
  /** Server-side time limit of each page request, in seconds. */
  timeLimit: number;
}

export interface PageHooks {
  /**
   * Called with each page as it arrives, before the next page is requested, with the
   * number of entries in it: throw to stop (nothing more is requested).
   */
  received(entries: number): void;
  /** Called with the page's entries after the next page has been requested. */
  page(entries: Entry[]): void;
}

const EMPTY = Buffer.alloc(0);

/**
 * An entry as ldapts' search gives it (`dn`, then each attribute as the server spelled
 * it: one value, or an array of several; bytes for all values when any is not UTF-8),
 * without the locale-aware lower-casing and the empty arrays for attributes the server
 * did not send that SearchEntry.toObject adds (a sixth of the CPU of a 100,000-user
 * read): a missing attribute is simply absent, which every caller reads as no value.
 */
export function entryOf(entry: SearchEntry): Entry {
  const out: Entry = { dn: entry.name };
  for (const attribute of entry.attributes) {
    const values = attribute.values.some((v) => typeof v !== 'string') ? attribute.parsedBuffers : attribute.values;
    out[attribute.type] = values.length === 1 ? (values[0] as string | Buffer) : values;
  }
  return out;
}

/** Control values ldapts parsed from a response (PagedResultsControl for 1.2.840.113556.1.4.319). */
function cookieOf(response: SearchResponse): Buffer {
  for (const control of response.controls ?? []) {
    if (control instanceof PagedResultsControl) return control.value?.cookie ?? EMPTY;
  }
  return EMPTY;
}

/**
 * Runs the paged search to its end, page by page through `hooks`. Throws on any
 * non-success result (the caller drops what it gathered). If `hooks.page` throws while
 * the next page is being read, that request is left to settle without anyone waiting
 * for it, and `onAbandoned` is called so the caller can close the connection (a paged
 * search left half-read on the server is not reused).
 */
export async function pipelinedPagedSearch(client: Client, req: PagedRequest, hooks: PageHooks, onAbandoned: () => Promise<void>): Promise<{ pages: number; entries: number }> {
  const wire = internalsOf(client);
  const send = (cookie: Buffer): Promise<SearchResponse | undefined> => {
    const request = new SearchRequest({
      messageId: wire._nextMessageId(),
      baseDN: req.base,
      scope: req.scope,
      filter: req.filter,
      attributes: req.attributes,
      sizeLimit: 0,
      timeLimit: req.timeLimit,
      controls: [new PagedResultsControl({ value: cookie.length > 0 ? { size: req.pageSize, cookie } : { size: req.pageSize } })],
    });
    return wire._send(request);
  };
  let pages = 0;
  let entries = 0;
  let pending: Promise<SearchResponse | undefined> | undefined = send(EMPTY);
  while (pending) {
    const response = await pending;
    pending = undefined;
    if (response?.status !== 0) throw response ? StatusCodeParser.parse(response) : new Error('The search ended without a result');
    pages++;
    entries += response.searchEntries.length;
    hooks.received(response.searchEntries.length);
    // RFC 2696: an empty cookie ends the search; any other is followed, even after an
    // empty page (AD may return one when it stops examining objects for a page).
    const cookie = cookieOf(response);
    if (cookie.length > 0) pending = send(cookie);
    try {
      hooks.page(response.searchEntries.map(entryOf));
    } catch (err) {
      if (pending) {
        pending.catch(() => undefined);
        await onAbandoned();
      }
      throw err;
    }
  }
  return { pages, entries };
}
