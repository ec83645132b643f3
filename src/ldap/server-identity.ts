/**
 * Which DC answered, and how far its changes go: from the rootDSE its
 * dsServiceName (the DN of its NTDS Settings object) and highestCommittedUSN,
 * and the invocationId of that NTDS Settings object (a GUID that changes when
 * the DC's database is restored). Read at the start of a read, so a change made
 * while the read runs has a higher USN and is read again next time.
 */
import { directoryError } from '../errors.ts';
import { firstString } from './reader.ts';
import { present } from './filter.ts';
import type { DirectorySession } from './session.ts';

export interface ServerIdentity {
  url: string;
  dsServiceName: string;
  invocationId: string;
  highestCommittedUSN: number;
}

/** A GUID's 16 bytes in the usual text form (the first three fields are little-endian). */
export function formatGuid(bytes: Uint8Array): string {
  if (bytes.length !== 16) throw new Error(`a GUID has 16 bytes, not ${bytes.length}`);
  const hex = (from: number, to: number, reverse: boolean) => {
    const part = Array.from(bytes.subarray(from, to), (b) => b.toString(16).padStart(2, '0'));
    return (reverse ? part.reverse() : part).join('');
  };
  return `${hex(0, 4, true)}-${hex(4, 6, true)}-${hex(6, 8, true)}-${hex(8, 10, false)}-${hex(10, 16, false)}`;
}

export async function readServerIdentity(session: DirectorySession): Promise<ServerIdentity> {
  const [root] = await session.search('the root DSE', '', { scope: 'base', filter: present('objectClass'), attributes: ['dsServiceName', 'highestCommittedUSN'] });
  const dsServiceName = root ? firstString(root, 'dsServiceName') : undefined;
  const usn = Number(root ? firstString(root, 'highestCommittedUSN') : undefined);
  if (!dsServiceName || !Number.isSafeInteger(usn)) {
    throw directoryError('DirectoryError', 'retry', `${session.url} did not give its dsServiceName and highestCommittedUSN in the root DSE`);
  }
  const [settings] = await session.search(`the DC's NTDS Settings (${dsServiceName})`, dsServiceName, {
    scope: 'base',
    filter: present('objectClass'),
    attributes: ['invocationId'],
    explicitBufferAttributes: ['invocationId'],
  });
  const key = settings ? Object.keys(settings).find((k) => k.toLowerCase() === 'invocationid') : undefined;
  const raw = key && settings ? settings[key] : undefined;
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!Buffer.isBuffer(value) || value.length !== 16) {
    throw directoryError('DirectoryError', 'retry', `${session.url} did not give the invocationId of ${dsServiceName}`);
  }
  return { url: session.url, dsServiceName, invocationId: formatGuid(value), highestCommittedUSN: usn };
}
