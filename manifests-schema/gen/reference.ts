// The manifest field reference (docs/manifest-reference.md), generated from the JSON Schema so
// that the documentation and the validator can never disagree. `npm run schema` writes it;
// a unit test fails when the checked-in file is stale.

type JsonSchema = {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
};

interface Row {
  path: string;
  type: string;
  required: boolean;
  detail: string;
}

export function renderReference(schema: JsonSchema): string {
  const rows: Row[] = [];
  walk(schema, '', rows);
  const lines = [
    '# Manifest field reference',
    '',
    '<!-- Generated from manifests-schema/capstan.schema.json by `npm run schema`. Do not edit by hand. -->',
    '',
    schema.description ?? '',
    '',
    '`<name>` stands for a key you choose (an app, service or volume name); `[]` for a list item.',
    'Strings may use `${VAR}` placeholders (see the README\'s Secrets section).',
    '',
    '| field | type | required | description |',
    '| --- | --- | --- | --- |',
    ...rows.map((row) => `| \`${row.path}\` | ${row.type} | ${row.required ? 'yes' : ''} | ${escapeCell(row.detail)} |`),
    '',
  ];
  return lines.join('\n');
}

function walk(schema: JsonSchema, path: string, rows: Row[], required = false): void {
  if (path) rows.push({ path, type: typeOf(schema), required, detail: detailOf(schema) });
  const objects = objectShapes(schema);
  for (const shape of objects) {
    for (const [key, child] of Object.entries(shape.properties ?? {})) {
      walk(child, join(path, key), rows, (shape.required ?? []).includes(key));
    }
    for (const [pattern, child] of Object.entries(shape.patternProperties ?? {})) {
      if (pattern === '^x-') continue;
      walk(child, join(path, placeholder(path)), rows);
    }
  }
  for (const item of arrayItems(schema)) {
    if (objectShapes(item).length > 0) {
      for (const shape of objectShapes(item)) {
        for (const [key, child] of Object.entries(shape.properties ?? {})) walk(child, `${path}[].${key}`, rows, (shape.required ?? []).includes(key));
      }
    }
  }
}

function objectShapes(schema: JsonSchema): JsonSchema[] {
  const own = schema.properties || schema.patternProperties ? [schema] : [];
  return [...own, ...(schema.anyOf ?? []).filter((option) => option.properties || option.patternProperties)];
}

function arrayItems(schema: JsonSchema): JsonSchema[] {
  const options = [schema, ...(schema.anyOf ?? [])];
  return options.filter((option) => option.items).map((option) => option.items as JsonSchema);
}

function typeOf(schema: JsonSchema): string {
  if (schema.enum) return schema.enum.map((value) => `\`${String(value)}\``).join(' \\| ');
  if (schema.anyOf) return [...new Set(schema.anyOf.map(typeOf))].join(' or ');
  const type = Array.isArray(schema.type) ? schema.type.join(' or ') : (schema.type ?? 'any');
  if (type === 'array' && schema.items) return `list of ${typeOf(schema.items)}`;
  if (type === 'object' && schema.patternProperties && !schema.properties) return 'map';
  return type;
}

function detailOf(schema: JsonSchema): string {
  const parts = [schema.description ?? ''];
  if (schema.default !== undefined) parts.push(`Default: \`${JSON.stringify(schema.default)}\`.`);
  if (schema.minimum !== undefined || schema.maximum !== undefined) {
    parts.push(`Range: ${schema.minimum ?? '…'} to ${schema.maximum ?? '…'}.`);
  }
  return parts.filter(Boolean).join(' ');
}

function placeholder(parent: string): string {
  const last = parent.split('.').at(-1) ?? '';
  return `<${{ services: 'service', volumes: 'volume', apps: 'app' }[last] ?? 'name'}>`;
}

function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n+/g, ' ');
}
