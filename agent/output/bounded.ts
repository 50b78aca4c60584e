// The last lines of a failed replica's or build's output, as kept in SQLite and shown by
// `status`, `history` and the failure notification. Bounded twice, like Kubernetes'
// terminationMessage (4 KB, or the last 80 lines with FallbackToLogsOnError): 50 lines and
// 8 KB, whichever is smaller, so a replica that prints megabytes (or one 1 MB line) keeps a
// readable tail. Control characters other than tab are dropped (a terminal escape in a
// notification is noise); invalid UTF-8 arrived here as U+FFFD already.

export const KEPT_LINES = 50;
export const KEPT_BYTES = 8 * 1024;

export function lastLines(text: string, maxLines = KEPT_LINES, maxBytes = KEPT_BYTES): string {
  const lines = text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((line) => line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, ''));
  while (lines.length > 0 && lines[lines.length - 1].trim() === '') lines.pop();
  let kept = lines.slice(-maxLines).join('\n');
  const bytes = Buffer.from(kept, 'utf8');
  if (bytes.length > maxBytes) {
    // Keep the end (where the error is); a character cut in two at the start is dropped.
    kept = `…${new TextDecoder().decode(bytes.subarray(bytes.length - maxBytes + 3)).replace(/^\uFFFD+/, '')}`;
  }
  return kept;
}
