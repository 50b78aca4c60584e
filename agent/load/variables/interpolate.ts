// Compose's `${VAR}` interpolation for one string, pure: the lookup is passed in. Supported:
//   $VAR  ${VAR}            value; undefined → UNDEFINED_VARIABLE (Compose only warns; a deploy
//                           agent must not start a container with a silently empty setting)
//   ${VAR:-default}         default when unset or empty     ${VAR-default}  when unset
//   ${VAR:?message}         problem when unset or empty     ${VAR?message}  when unset
//   ${VAR:+alt}             alt when set and non-empty      ${VAR+alt}      when set
//   $$                      a literal `$`
// Defaults and alternatives may themselves hold `${…}` and are only evaluated when used.
// As in Compose (compose-go's template pattern), a `$` followed by anything else (a space, a
// digit, `}`, the end) is kept as it is; `${` that does not open a valid placeholder is an error.
// Issues name the variable, never its value.

export type Lookup = (name: string) => string | undefined;

export interface InterpolationIssue {
  code: 'UNDEFINED_VARIABLE' | 'INVALID_INTERPOLATION';
  variable?: string;
  message: string;
  /** A `${VAR:?message}` or `${VAR?message}` that failed: an error even where Compose lets unset variables be empty. */
  required?: true;
}

export interface Interpolated {
  value: string;
  issues: InterpolationIssue[];
}

const NAME_START = /[_A-Za-z]/;
const NAME_CHAR = /[_A-Za-z0-9]/;
const OPERATORS = [':-', ':?', ':+', '-', '?', '+'] as const;
type Operator = (typeof OPERATORS)[number];

const LITERAL_DOLLAR_HINT = "write '$$' for a literal '$'";

export function interpolate(template: string, lookup: Lookup): Interpolated {
  const issues: InterpolationIssue[] = [];
  let value = '';
  let index = 0;
  while (index < template.length) {
    const char = template[index];
    if (char !== '$') {
      value += char;
      index += 1;
      continue;
    }
    const next = template[index + 1];
    if (next === '$') {
      value += '$';
      index += 2;
    } else if (next !== undefined && NAME_START.test(next)) {
      const end = nameEnd(template, index + 1);
      const name = template.slice(index + 1, end);
      value += resolveVariable(name, undefined, '', lookup, issues);
      index = end;
    } else if (next === '{') {
      const braced = parseBraced(template, index);
      if ('invalid' in braced) {
        issues.push({ code: 'INVALID_INTERPOLATION', message: `${braced.invalid}; ${LITERAL_DOLLAR_HINT}` });
        value += template.slice(index);
        break;
      }
      value += resolveVariable(braced.name, braced.operator, braced.argument, lookup, issues);
      index = braced.end;
    } else {
      // compose-go's pattern matches nothing here (`a $ string`, `^REGEX$`, `$1`): the `$` stays.
      value += '$';
      index += 1;
    }
  }
  return { value, issues };
}

function nameEnd(text: string, start: number): number {
  let end = start;
  while (end < text.length && NAME_CHAR.test(text[end])) end += 1;
  return end;
}

type Braced = { name: string; operator?: Operator; argument: string; end: number } | { invalid: string };

/** Parses `${…}` starting at `start` (the `$`); `end` is just past the closing brace. */
function parseBraced(text: string, start: number): Braced {
  const nameStart = start + 2;
  if (!NAME_START.test(text[nameStart] ?? '')) return { invalid: "'${' must be followed by a variable name" };
  const afterName = nameEnd(text, nameStart);
  const name = text.slice(nameStart, afterName);
  if (text[afterName] === '}') return { name, argument: '', end: afterName + 1 };
  if (afterName >= text.length) return { invalid: `'\${${name}' is not closed by '}'` };
  const operator = OPERATORS.find((candidate) => text.startsWith(candidate, afterName));
  if (!operator) return { invalid: `unexpected character after '\${${name}'; expected '}', ':-', '-', ':?', '?', ':+' or '+'` };
  const argumentStart = afterName + operator.length;
  const close = closingBrace(text, argumentStart);
  if (close < 0) return { invalid: `'\${${name}' is not closed by '}'` };
  return { name, operator, argument: text.slice(argumentStart, close), end: close + 1 };
}

/**
 * Index of the `}` closing a `${`, skipping `$$` and every nested `{…}`, not only `${…}`, as
 * compose-go's getFirstBraceClosingIndex does (`${X:-{"json":1}}`); -1 when there is none.
 */
function closingBrace(text: string, from: number): number {
  let depth = 0;
  for (let index = from; index < text.length; index++) {
    if (text[index] === '$' && text[index + 1] === '$') index += 1;
    else if (text[index] === '{') depth += 1;
    else if (text[index] === '}') {
      if (depth === 0) return index;
      depth -= 1;
    }
  }
  return -1;
}

function resolveVariable(name: string, operator: Operator | undefined, argument: string, lookup: Lookup, issues: InterpolationIssue[]): string {
  const current = lookup(name);
  const isSet = current !== undefined;
  const isFilled = isSet && current !== '';
  const nested = (): string => {
    const result = interpolate(argument, lookup);
    issues.push(...result.issues);
    return result.value;
  };
  switch (operator) {
    case undefined:
      if (!isSet) issues.push(undefinedIssue(name, `variable '${name}' is not set; define it in an env file or write \${${name}:-default}`));
      return current ?? '';
    case ':-':
      return isFilled ? current : nested();
    case '-':
      return isSet ? current : nested();
    case ':?':
    case '?': {
      if (operator === ':?' ? isFilled : isSet) return current as string;
      // The message is quoted as written: interpolating it could print another variable's value.
      const reason = argument;
      const condition = operator === ':?' ? 'is not set or empty' : 'is not set';
      issues.push({ ...undefinedIssue(name, `variable '${name}' ${condition}${reason ? `: ${reason}` : ''}`), required: true });
      return '';
    }
    case ':+':
      return isFilled ? nested() : '';
    case '+':
      return isSet ? nested() : '';
  }
}

function undefinedIssue(variable: string, message: string): InterpolationIssue {
  return { code: 'UNDEFINED_VARIABLE', variable, message };
}

/**
 * The template with each plain reference to one of `names` (`$NAME`, `${NAME}`, also inside a
 * default or an alternative) written `${NAME:-}`: the same value in Compose (empty when unset,
 * its value otherwise), but one the native loader accepts unset. What `capstan convert` writes
 * for the variables a Compose file leaves unset under `allow_unset_variables`. `$$`, the other
 * variables and `${NAME:?message}` are kept as written.
 */
export function emptyWhenUnset(template: string, names: ReadonlySet<string>): string {
  let out = '';
  let index = 0;
  while (index < template.length) {
    const dollar = template.indexOf('$', index);
    if (dollar < 0) return out + template.slice(index);
    out += template.slice(index, dollar);
    const next = template[dollar + 1];
    if (next === '$') {
      out += '$$';
      index = dollar + 2;
    } else if (next !== undefined && NAME_START.test(next)) {
      const end = nameEnd(template, dollar + 1);
      const name = template.slice(dollar + 1, end);
      out += names.has(name) ? `\${${name}:-}` : template.slice(dollar, end);
      index = end;
    } else if (next === '{') {
      const braced = parseBraced(template, dollar);
      if ('invalid' in braced) return out + template.slice(dollar);
      const { name, operator, argument } = braced;
      if (operator === undefined) out += names.has(name) ? `\${${name}:-}` : `\${${name}}`;
      else if (operator.includes('?')) out += template.slice(dollar, braced.end);
      else out += `\${${name}${operator}${emptyWhenUnset(argument, names)}}`;
      index = braced.end;
    } else {
      out += '$';
      index = dollar + 1;
    }
  }
  return out;
}
