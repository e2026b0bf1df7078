import type { ReservedSql, Sql, TransactionSql } from 'postgres';
import Papa from 'papaparse';
import { userExportColumns, type UserExportQuery } from '@roster/shared';
import { toUserDto, type UserRow } from '../../data/users.ts';
import { userFilters, userSort } from './listing.ts';

// The users table as CSV (docs/csv.md): every user matching the table's filters, in its sort,
// read through a cursor a batch at a time and written as it is read, so 100,000 users take as
// little memory as 100. One read-only snapshot: the file is the table as of one moment.

const BATCH = 1000;

/**
 * Cells a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage
 * return) get a leading apostrophe, as OWASP recommends against CSV injection; papaparse quotes them.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

function csvLines(rows: unknown[][], header = false): string {
  return Papa.unparse(rows, { header, newline: '\r\n', escapeFormulae: FORMULA_START }) + '\r\n';
}

/** The export, a piece at a time: the header, then a batch of rows per piece. */
export async function* usersCsv(sql: Sql, query: UserExportQuery): AsyncGenerator<string> {
  const reserved: ReservedSql = await sql.reserve();
  try {
    await reserved`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`;
    // As for the table (listing.ts): the search is planned for its actual text, to use the trigram index.
    await reserved`SET LOCAL plan_cache_mode = force_custom_plan`;
    const tx = reserved as unknown as TransactionSql;
    yield csvLines([[...userExportColumns]]);
    const cursor = reserved<UserRow[]>`
      SELECT * FROM users WHERE true ${userFilters(tx, query)} ORDER BY ${userSort(tx, query.sort).order}`.cursor(BATCH);
    for await (const rows of cursor) {
      yield csvLines(
        rows.map((row) => {
          const user = toUserDto(row);
          return userExportColumns.map((column) => user[column] ?? '');
        }),
      );
    }
  } finally {
    // Also when the download is cancelled half-way: the snapshot ends, the connection goes back.
    await reserved`ROLLBACK`.catch(() => {});
    reserved.release();
  }
}

/**
 * The export as a byte stream that reads the next batch only when the client has taken the last.
 * `onEnd` runs once, when the stream is done, fails or is cancelled.
 */
export function usersCsvStream(sql: Sql, query: UserExportQuery, onEnd: () => void = () => {}): ReadableStream<Uint8Array> {
  const pieces = usersCsv(sql, query);
  const encoder = new TextEncoder();
  let ended = false;
  const end = () => {
    if (!ended) onEnd();
    ended = true;
  };
  return new ReadableStream({
    async pull(controller) {
      try {
        const next = await pieces.next();
        if (next.done) {
          end();
          controller.close();
        } else controller.enqueue(encoder.encode(next.value));
      } catch (error) {
        end();
        throw error;
      }
    },
    async cancel() {
      end();
      await pieces.return(undefined);
    },
  });
}

/**
 * Each export holds a database connection (its snapshot) for as long as the download runs, up to a
 * minute for a client that stops reading (the idle-in-transaction timeout): at most this many run
 * at once on a node, so downloads never take the pool from the requests.
 */
export const MAX_CONCURRENT_EXPORTS = 2;
