import { parse } from 'dotenv';
import { secretsError } from './errors.js';
import { isValidName } from './format.js';

/** Variables of a plaintext env file, read by dotenv. Comments are not kept. */
export function parsePlainEnv(text: string, file: string): Record<string, string> {
  const values = parse(text.replace(/^\uFEFF/, ''));
  for (const name of Object.keys(values)) {
    if (!isValidName(name)) {
      throw secretsError('SECRETS_INVALID_NAME', `${file}: invalid variable name ${JSON.stringify(name)} (letters, digits, _ . -; not starting with a digit)`, {
        file,
        variable: name,
      });
    }
  }
  return values;
}

// dotenv has no general escaping: single quotes and backticks are literal, double quotes only
// turn \n and \r into newlines. So each value gets the first form that dotenv reads back as
// exactly that value, and dotenv itself is the judge.
function quotings(value: string): string[] {
  return [value, `'${value}'`, `"${value.replace(/\n/g, '\\n').replace(/\r/g, '\\r')}"`, `\`${value}\``];
}

function unrepresentable(file: string, name: string): Error {
  return secretsError(
    'SECRETS_UNREPRESENTABLE',
    `${file}: ${name}: dotenv cannot hold this value (it mixes ' " and \` quotes, or needs escapes dotenv lacks)`,
    { file, variable: name },
  );
}

export function dotenvLine(name: string, value: string, file: string): string {
  const line = quotings(value)
    .map((quoted) => `${name}=${quoted}`)
    .find((candidate) => parse(candidate)[name] === value);
  if (line === undefined) throw unrepresentable(file, name);
  return line;
}

/** A plaintext env file that dotenv reads back as exactly `values`, checked as a whole. */
export function serializePlainEnv(values: Record<string, string>, file: string): string {
  const text = Object.entries(values)
    .map(([name, value]) => dotenvLine(name, value, file) + '\n')
    .join('');
  const readBack = parse(text);
  for (const [name, value] of Object.entries(values)) {
    if (readBack[name] !== value) throw unrepresentable(file, name);
  }
  if (Object.keys(readBack).length !== Object.keys(values).length) {
    throw secretsError('SECRETS_UNREPRESENTABLE', `${file}: dotenv does not read the values back as written`, { file });
  }
  return text;
}
