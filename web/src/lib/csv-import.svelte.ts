import Papa from 'papaparse';
import {
  duplicateRows,
  IMPORT_CHUNK_MAX,
  importFields,
  importOutcomes,
  invitationImportFields,
  requiredImportFields,
  type ImportCells,
  type ImportField,
  type ImportOutcome,
} from '@roster/shared';
import { api } from './api';

// The CSV import's steps in the browser (docs/csv.md): the file is read here with papaparse and
// never uploaded as such; its mapped rows go to `POST /users/import` a chunk at a time, first as a
// dry run (the preview), then for real. In the invite mode they go to `POST /invitations/import`
// instead: each new row becomes an invitation mail, and the person chooses their password.

/** The largest file the console reads: far beyond what one import is for, within what a tab holds. */
export const MAX_FILE_BYTES = 20 * 1024 * 1024;
export const MAX_FILE_ROWS = 50_000;
// A chunk stays well under the API's 1 MiB body limit even with long cells.
const MAX_CHUNK_BYTES = 512 * 1024;

export const fieldLabels: Record<ImportField, string> = {
  username: 'Username',
  email: 'Email',
  display_name: 'Display name',
  role: 'Role',
  status: 'Status',
  password: 'Password',
};

const headerGuesses: Record<ImportField, string[]> = {
  username: ['username', 'user name', 'user', 'login', 'uid', 'user id', 'userid'],
  email: ['email', 'e-mail', 'mail', 'email address', 'e-mail address'],
  display_name: ['display name', 'name', 'full name', 'fullname', 'displayname'],
  role: ['role'],
  status: ['status', 'state'],
  password: ['password', 'initial password'],
};

/** Which column each field is read from ('' for none), guessed from the headers. */
export function guessMapping(headers: string[]): Record<ImportField, string> {
  const normal = (h: string) => h.trim().toLowerCase().replace(/[_-]+/g, ' ');
  return Object.fromEntries(
    importFields.map((field) => [field, headers.find((h) => headerGuesses[field].some((guess) => normal(guess) === normal(h))) ?? '']),
  ) as Record<ImportField, string>;
}

/** Roster's own export escapes cells a spreadsheet would run (`'=…`): importing it gives the text back. */
function unescapeFormula(value: string): string {
  return /^'[=+\-@\t\r]/.test(value) ? value.slice(1) : value;
}

/** Existing usernames are skipped or updated, or (invite) new rows are invited by mail. */
export type ImportMode = 'skip' | 'update' | 'invite';

/** What happened to a row: an import's outcomes, and `invited` for the invite mode. */
export type RowOutcome = ImportOutcome | 'invited';
const rowOutcomes: readonly RowOutcome[] = [...importOutcomes, 'invited'];

/** Whether a field is sent in `mode`: an invitation has no password (the person chooses it) and no status. */
export function usedIn(mode: ImportMode, field: ImportField): boolean {
  return mode !== 'invite' || (invitationImportFields as readonly string[]).includes(field);
}

export interface ImportRowState {
  /** The row's number in the file, counting from 1 after the header. */
  number: number;
  cells: ImportCells;
  outcome?: RowOutcome;
  errors?: Record<string, string>;
  userId?: string;
  /** The invitation made, or the pending one a skipped row's username has (invite mode). */
  invitationId?: string;
}

type Phase = 'choose' | 'map' | 'checking' | 'preview' | 'importing' | 'done';

export class CsvImport {
  phase = $state<Phase>('choose');
  fileName = $state('');
  headers = $state<string[]>([]);
  readError = $state<string | null>(null);
  mapping = $state<Record<ImportField, string>>(guessMapping([]));
  mode = $state<ImportMode>('skip');
  /** Every row with its preview or its result. */
  rows = $state.raw<ImportRowState[]>([]);
  progress = $state({ done: 0, total: 0 });
  failure = $state<string | null>(null);
  /** Someone changed users after the check: its answers may be out of date. */
  stale = $state(false);
  private records: Record<string, string>[] = [];

  readonly missing = $derived(requiredImportFields.filter((f) => !this.mapping[f]));
  readonly counts = $derived(countRows(this.rows));
  /** The rows the import sends: those the check found nothing wrong with. */
  readonly importable = $derived(this.rows.filter((r) => r.outcome && r.outcome !== 'failed'));

  read(file: File): Promise<void> {
    this.reset();
    this.fileName = file.name;
    if (file.size > MAX_FILE_BYTES) {
      this.readError = `The file is larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB; split it into smaller files`;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      Papa.parse<Record<string, string>>(file, {
        header: true,
        skipEmptyLines: 'greedy',
        transformHeader: (header) => header.trim(),
        complete: (parsed) => {
          const headers = (parsed.meta.fields ?? []).filter((h) => h !== '');
          if (headers.length === 0 || parsed.data.length === 0) this.readError = 'The file has no rows under a header line';
          else if (parsed.data.length > MAX_FILE_ROWS) this.readError = `The file has more than ${MAX_FILE_ROWS.toLocaleString()} rows; split it into smaller files`;
          else {
            this.records = parsed.data;
            this.headers = headers;
            this.mapping = guessMapping(headers);
            this.rows = this.records.map((_, i) => ({ number: i + 1, cells: {} }));
            this.phase = 'map';
          }
          resolve();
        },
        error: (error) => {
          this.readError = `The file cannot be read: ${error.message}`;
          resolve();
        },
      });
    });
  }

  /** A changed mapping or mode needs a new check. */
  remap() {
    if (this.phase === 'preview') this.phase = 'map';
  }

  /** Checks every row (a dry run), with repeats across the whole file found here. */
  async check() {
    const rows = this.records.map((record, i) => ({ number: i + 1, cells: this.cellsOf(record) }));
    const results = await this.send(rows, true);
    if (!results) return;
    for (const [index, errors] of duplicateRows(rows.map((r) => r.cells))) {
      results[index] = { ...results[index]!, outcome: 'failed', errors: { ...results[index]!.errors, ...errors }, userId: undefined, invitationId: undefined };
    }
    this.rows = results;
    this.stale = false;
    this.phase = 'preview';
  }

  /** Imports the rows the check passed; the others keep their problems in the result. */
  async run() {
    const passed = this.importable;
    const results = await this.send(passed, false);
    if (!results) return;
    const byNumber = new Map(results.map((r) => [r.number, r]));
    this.rows = this.rows.map((row) => byNumber.get(row.number) ?? row);
    this.phase = 'done';
  }

  /** The result as CSV: each row's number, username, outcome and problems. */
  resultCsv(): string {
    return Papa.unparse(
      this.rows.map((r) => ({
        row: r.number,
        username: r.cells.username ?? '',
        outcome: r.outcome ?? '',
        problems: Object.entries(r.errors ?? {}).map(([field, message]) => (field === '_' ? message : `${field}: ${message}`)).join('; '),
      })),
      { escapeFormulae: true },
    );
  }

  reset() {
    this.phase = 'choose';
    this.fileName = '';
    this.headers = [];
    this.readError = null;
    this.records = [];
    this.rows = [];
    this.failure = null;
    this.stale = false;
  }

  private cellsOf(record: Record<string, string>): ImportCells {
    const cells: ImportCells = {};
    for (const field of importFields) {
      const column = this.mapping[field];
      if (column && usedIn(this.mode, field)) cells[field] = unescapeFormula(record[column] ?? '');
    }
    return cells;
  }

  /** Sends `rows` in chunks, advancing the progress; null when a chunk was refused (`failure` says why). */
  private async send(rows: ImportRowState[], dryRun: boolean): Promise<ImportRowState[] | null> {
    const previous = this.phase;
    this.phase = dryRun ? 'checking' : 'importing';
    this.failure = null;
    this.progress = { done: 0, total: rows.length };
    const results: ImportRowState[] = [];
    try {
      for (const chunk of chunks(rows)) {
        const rows = chunk.map((r) => r.cells);
        const answer =
          this.mode === 'invite'
            ? await api('POST /invitations/import', { body: { rows, dry_run: dryRun } })
            : await api('POST /users/import', { body: { rows, mode: this.mode, dry_run: dryRun } });
        for (const result of answer.results) {
          const row = chunk[result.index]!;
          const invitationId = 'invitation_id' in result ? result.invitation_id : undefined;
          results.push({ ...row, outcome: result.outcome, errors: result.errors, userId: result.user_id, invitationId });
        }
        this.progress = { done: this.progress.done + chunk.length, total: rows.length };
      }
      return results;
    } catch (error) {
      this.failure = `${dryRun ? 'The check' : 'The import'} stopped after ${this.progress.done.toLocaleString()} rows: ${error instanceof Error ? error.message : String(error)}`;
      if (!dryRun) {
        // What was imported stays imported: show it, and what was not sent yet as not imported.
        const byNumber = new Map(results.map((r) => [r.number, r]));
        const unsent = new Set(rows.map((r) => r.number));
        this.rows = this.rows.map(
          (row) =>
            byNumber.get(row.number) ??
            (unsent.has(row.number) ? { ...row, outcome: 'failed', errors: { _: 'Not imported: the import stopped before this row' }, userId: undefined } : row),
        );
        this.phase = 'done';
      } else this.phase = previous;
      return null;
    }
  }
}

function countRows(rows: readonly ImportRowState[]): Record<RowOutcome, number> {
  const counts = Object.fromEntries(rowOutcomes.map((o) => [o, 0])) as Record<RowOutcome, number>;
  for (const row of rows) if (row.outcome) counts[row.outcome]++;
  return counts;
}

/** Up to IMPORT_CHUNK_MAX rows and about MAX_CHUNK_BYTES of JSON each. */
function* chunks(rows: ImportRowState[]): Generator<ImportRowState[]> {
  let chunk: ImportRowState[] = [];
  let bytes = 0;
  for (const row of rows) {
    const size = JSON.stringify(row.cells).length;
    if (chunk.length === IMPORT_CHUNK_MAX || (chunk.length > 0 && bytes + size > MAX_CHUNK_BYTES)) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(row);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}
