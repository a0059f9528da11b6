/**
 * Reading a mongoexport file: MongoDB Extended JSON (relaxed or canonical),
 * either one document per line or one JSON array. Pure: text in, documents
 * out, and every document that does not parse comes back as a failure with
 * its line instead of stopping the import.
 */

/** A `$numberDecimal` keeps its text, so money converts without float error. */
export class DecimalText {
  constructor(readonly text: string) {}
}

/** The text of one top-level document and the line it starts on (1-based). */
export interface RawDocument {
  line: number;
  text: string;
  /** The file or the next document began before this one closed. */
  truncated?: boolean;
}

export type ParsedDocument =
  | { ok: true; line: number; value: Record<string, unknown> }
  | { ok: false; line: number; reason: string };

/** Advances the bracket depth over `text`, strings and escapes respected. */
function scanDepth(text: string, state: { depth: number; inString: boolean; escaped: boolean }): void {
  for (const ch of text) {
    if (state.inString) {
      if (state.escaped) state.escaped = false;
      else if (ch === '\\') state.escaped = true;
      else if (ch === '"') state.inString = false;
    } else if (ch === '"') state.inString = true;
    else if (ch === '{' || ch === '[') state.depth++;
    else if (ch === '}' || ch === ']') state.depth--;
  }
}

/**
 * Splits an export into its documents. A JSON array is split into its
 * elements; otherwise each document starts on a line of its own (a document
 * mongoexport `--pretty` spreads over several lines is joined back), and a
 * truncated document ends where the next line starting with `{` begins.
 */
export function splitDocuments(text: string): RawDocument[] {
  const body = text.replace(/^\uFEFF/, '');
  return body.trimStart().startsWith('[') ? splitArray(body) : splitLines(body);
}

function splitLines(text: string): RawDocument[] {
  const docs: RawDocument[] = [];
  let current: RawDocument | null = null;
  let state = { depth: 0, inString: false, escaped: false };
  const lines = text.split(/\r?\n/);
  lines.forEach((line, i) => {
    if (current && line.startsWith('{')) {
      docs.push({ ...current, truncated: true });
      current = null;
    }
    if (!current) {
      if (line.trim() === '') return;
      current = { line: i + 1, text: '' };
      state = { depth: 0, inString: false, escaped: false };
    }
    current.text += current.text ? `\n${line}` : line;
    scanDepth(line, state);
    if (state.depth <= 0 && !state.inString) {
      docs.push(current);
      current = null;
    }
  });
  if (current) docs.push({ ...(current as RawDocument), truncated: true });
  return docs;
}

function splitArray(text: string): RawDocument[] {
  const docs: RawDocument[] = [];
  let depth = 0;
  let inString = false;
  let escaped = false;
  let line = 1;
  let start = -1;
  let startLine = 0;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '\n') line++;
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') {
      inString = true;
    } else if (ch === '{' || ch === '[') {
      depth++;
      if (depth === 2) {
        start = i;
        startLine = line;
      }
    } else if (ch === '}' || ch === ']') {
      if (depth === 2 && start >= 0) {
        docs.push({ line: startLine, text: text.slice(start, i + 1) });
        start = -1;
      }
      depth--;
    } else if (depth === 1 && ch !== ',' && !/\s/.test(ch)) {
      // A bare value in the array (a number, `null`, a stray word): not a document.
      let end = i;
      while (end < text.length && !/[,\]\s]/.test(text[end]!)) end++;
      docs.push({ line, text: text.slice(i, end) });
      i = end - 1;
    }
  }
  if (start >= 0) docs.push({ line: startLine, text: text.slice(start), truncated: true });
  return docs;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

function integerText(text: unknown, what: string): number {
  if (typeof text !== 'string' || !/^-?\d+$/.test(text)) throw new Error(`${what} must hold an integer string`);
  const big = BigInt(text);
  if (big > MAX_SAFE || big < -MAX_SAFE) throw new Error(`${what} ${text} is too large`);
  return Number(big);
}

function onlyKey(value: Record<string, unknown>): string | null {
  const keys = Object.keys(value);
  return keys.length >= 1 && keys[0]!.startsWith('$') ? keys[0]! : null;
}

/**
 * Turns Extended JSON wrappers into plain values: `$oid` → its hex string,
 * `$date` → a `Date`, `$numberLong`/`$numberInt`/`$numberDouble` → a number,
 * `$numberDecimal` → `DecimalText`. Other `$` wrappers are refused.
 */
export function decodeExtended(value: unknown, path = ''): unknown {
  if (Array.isArray(value)) return value.map((item, i) => decodeExtended(item, `${path}[${i}]`));
  if (value === null || typeof value !== 'object') return value;
  const record = value as Record<string, unknown>;
  const wrapper = onlyKey(record);
  if (wrapper) {
    const inner = record[wrapper];
    const at = path || '(document)';
    switch (wrapper) {
      case '$oid':
        if (typeof inner !== 'string' || !/^[0-9a-fA-F]{24}$/.test(inner)) throw new Error(`${at}: $oid must be 24 hex digits`);
        return inner.toLowerCase();
      case '$date': {
        let ms: number;
        if (typeof inner === 'string') ms = Date.parse(inner);
        else if (typeof inner === 'number') ms = inner;
        else if (inner && typeof inner === 'object' && '$numberLong' in inner) ms = integerText((inner as Record<string, unknown>).$numberLong, `${at}.$date`);
        else throw new Error(`${at}: $date must be an ISO string or {$numberLong}`);
        if (!Number.isFinite(ms)) throw new Error(`${at}: $date ${JSON.stringify(inner)} is not a date`);
        return new Date(ms);
      }
      case '$numberLong':
      case '$numberInt':
        return integerText(inner, `${at}.${wrapper}`);
      case '$numberDouble': {
        const n = typeof inner === 'string' ? Number(inner) : NaN;
        if (!Number.isFinite(n)) throw new Error(`${at}: $numberDouble ${JSON.stringify(inner)} is not a finite number`);
        return n;
      }
      case '$numberDecimal':
        if (typeof inner !== 'string' || !/^-?\d+(\.\d+)?$/.test(inner)) throw new Error(`${at}: $numberDecimal must be a decimal string`);
        return new DecimalText(inner);
      default:
        throw new Error(`${at}: unsupported Extended JSON type ${wrapper}`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(record)) out[key] = decodeExtended(item, path ? `${path}.${key}` : key);
  return out;
}

/** Every document of an export, decoded, or the reason it could not be read. */
export function parseExport(text: string): ParsedDocument[] {
  return splitDocuments(text).map(({ line, text: docText, truncated }) => {
    if (truncated) return { ok: false, line, reason: 'malformed JSON: the document is cut off (its braces never close)' };
    let json: unknown;
    try {
      json = JSON.parse(docText);
    } catch (error) {
      return { ok: false, line, reason: `malformed JSON: ${(error as Error).message}` };
    }
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      return { ok: false, line, reason: 'not a JSON object' };
    }
    try {
      return { ok: true, line, value: decodeExtended(json) as Record<string, unknown> };
    } catch (error) {
      return { ok: false, line, reason: (error as Error).message };
    }
  });
}
