/**
 * Builds the AdSync CustomResourceDefinition from the zod schemas in spec.ts and
 * status.ts. `npm run manifests` writes it to crds/; a test and CI fail when the
 * committed file drifts from what this produces.
 */
import { stringify } from 'yaml';
import { z } from 'zod';
import { API_GROUP, API_VERSION, KIND, PLURAL, adSyncSpecSchema } from './spec.ts';
import { adSyncStatusSchema } from './status.ts';

type JsonSchema = { [key: string]: unknown };

/** Keeps only what a structural CRD schema allows, recursively. */
function toStructural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toStructural);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonSchema = {};
  for (const [key, value] of Object.entries(node as JsonSchema)) {
    if (key === '$schema' || key === 'additionalProperties' || key === 'id') continue;
    if (key === 'properties' || key === 'patternProperties') {
      out[key] = Object.fromEntries(Object.entries(value as JsonSchema).map(([k, v]) => [k, toStructural(v)]));
    } else {
      out[key] = toStructural(value);
    }
  }
  // zod renders Number.MAX_SAFE_INTEGER bounds for .int(); they add nothing.
  if (out.maximum === Number.MAX_SAFE_INTEGER) delete out.maximum;
  if (out.minimum === Number.MIN_SAFE_INTEGER) delete out.minimum;
  return out;
}

function openApi(schema: z.ZodType): JsonSchema {
  return toStructural(z.toJSONSchema(schema, { io: 'input', target: 'openapi-3.0', unrepresentable: 'throw' })) as JsonSchema;
}

export function adSyncCrd(): JsonSchema {
  const spec = openApi(adSyncSpecSchema);
  const status = openApi(adSyncStatusSchema);
  const statusProps = status.properties as JsonSchema;
  const conditions = statusProps.conditions as JsonSchema;
  conditions['x-kubernetes-list-type'] = 'map';
  conditions['x-kubernetes-list-map-keys'] = ['type'];

  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${PLURAL}.${API_GROUP}`,
      labels: { 'app.kubernetes.io/name': 'truetask-adsync', 'app.kubernetes.io/part-of': 'truetask-adsync' },
    },
    spec: {
      group: API_GROUP,
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: KIND.toLowerCase(),
        shortNames: ['ads'],
        categories: ['truetask'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'Preview or Sync' },
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Users', type: 'integer', jsonPath: '.status.directory.users', description: 'Directory users in scope' },
            { name: 'Create', type: 'integer', jsonPath: '.status.preview.toCreate', description: 'Users the plan would create' },
            { name: 'Last Sync', type: 'string', jsonPath: '.status.lastSync.result' },
            { name: 'Approval', type: 'string', jsonPath: '.status.pendingApproval.digest', description: 'Digest of a plan that waits for approval (spec.safeguard)' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
            { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason', priority: 1 },
            { name: 'Next Sync', type: 'string', jsonPath: '.status.nextSyncAt', priority: 1, description: 'When the next run or retry is due (RFC 3339): a string column, since kubectl shows a future date as <invalid>.' },
            { name: 'Run', type: 'string', jsonPath: '.status.lastRun.kind', description: 'Full or Changed (a changed-only run)', priority: 1 },
            { name: 'Read', type: 'integer', jsonPath: '.status.lastRun.entriesRead', description: 'Directory entries the last run read', priority: 1 },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description:
                'AdSync synchronises users from Active Directory into Truetask: it pre-provisions Truetask accounts for AD users and promotes members of admin groups. It never writes to AD and never deletes or downgrades a Truetask user.',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
                kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
                metadata: { type: 'object' },
                spec: spec,
                status: status,
              },
            },
          },
        },
      ],
    },
  };
}

/** The CRD as committed under crds/ (and, with a note, as deploy/base/crd.yaml). */
export function renderCrdYaml(note?: string): string {
  const header = `# Generated by \`npm run manifests\` from src/api/. Do not edit by hand.${note ? `\n# ${note}` : ''}`;
  return `${header}\n${stringify(adSyncCrd(), { lineWidth: 0 })}`;
}
