import { z } from 'zod';
import { pageSeqSchema } from './schemas/common.ts';
import { displayNameSchema, emailSchema, passwordSchema, roleSchema, userSchema, usernameSchema } from './schemas.ts';
import { IMPORT_CHUNK_MAX, importCellsSchema, importRowSchema } from './imports.ts';

// Invitations: an admin adds someone by e-mail instead of choosing a password for them. The
// invitation holds the profile; the account is created when the person follows the link (single
// use, 7 days) and chooses a password, which signs them in.

/** How long an invitation link works, from the moment it is sent (a resend makes a new one). */
export const INVITATION_DAYS = 7;

const timestamp = z.iso.datetime({ offset: true });

/** Someone to invite: the profile of `POST /users`, without a password. */
export const inviteUserSchema = z.strictObject({
  username: usernameSchema,
  display_name: displayNameSchema,
  email: emailSchema,
  role: roleSchema.default('user'),
});
export type InviteUserRequest = z.infer<typeof inviteUserSchema>;

/** A pending invitation, as admins see it. */
export const invitationSchema = z.object({
  id: z.uuid(),
  username: z.string(),
  display_name: z.string(),
  email: z.string(),
  role: roleSchema,
  /** Who invited (their name at the time), or null (the command line). */
  invited_by: z.string().nullable(),
  created_at: timestamp,
  /** When the current link was sent (the invitation, or its last resend). */
  sent_at: timestamp,
  /** The link stops working then; an expired invitation can be resent. */
  expires_at: timestamp,
});
export type Invitation = z.infer<typeof invitationSchema>;

export const invitationResponseSchema = z.object({ invitation: invitationSchema });
export const invitationListSchema = z.object({
  items: z.array(invitationSchema),
  /** The newest live event the list reflects. */
  seq: pageSeqSchema,
});
export type InvitationList = z.infer<typeof invitationListSchema>;

/** A link's token, as the page it opens sends it (the token travels in the link's #fragment). */
export const linkTokenSchema = z.strictObject({
  token: z.string({ error: 'The link is incomplete' }).min(1, 'The link is incomplete').max(200, 'The link is not valid'),
});

/** What a link's page shows before the person chooses a password. */
export const linkPreviewSchema = z.object({
  username: z.string(),
  display_name: z.string(),
  email: z.string(),
  expires_at: timestamp,
});
export type LinkPreview = z.infer<typeof linkPreviewSchema>;

/** Following a link: the token and the password the person chooses (the password policy applies). */
export const chooseLinkPasswordSchema = linkTokenSchema.extend({ password: passwordSchema });

/** The accepted invitation's new account. */
export const acceptedInvitationSchema = z.object({ user: userSchema });

// ---- Bulk invitations from a CSV file (docs/csv.md, "Invite by e-mail") ---------------------------

/** The fields an invitation row takes: no password (the person chooses it) and no status. */
export const invitationImportFields = ['username', 'email', 'display_name', 'role'] as const;

/**
 * One row as the console sends it. A password or status cell is refused (the request fails as a
 * whole): the console never maps those columns in this mode, so one here is a mistake to see.
 */
export const invitationImportCellsSchema = importCellsSchema.pick({ username: true, email: true, display_name: true, role: true }).strict();
export type InvitationImportCells = z.infer<typeof invitationImportCellsSchema>;

/** What an invitation row means once checked: the rules of `POST /invitations`. */
export const invitationImportRowSchema = importRowSchema.pick({ username: true, email: true, display_name: true, role: true });

export const invitationImportRequestSchema = z.strictObject({
  /** Check every row against the rules and the database, write nothing (the preview). */
  dry_run: z.boolean().default(false),
  rows: z.array(invitationImportCellsSchema).min(1, 'Send at least one row').max(IMPORT_CHUNK_MAX, `At most ${IMPORT_CHUNK_MAX} rows at once`),
});
export type InvitationImportRequest = z.infer<typeof invitationImportRequestSchema>;

/**
 * What happened (or would happen) to a row: invited (a mail goes out), skipped (the username has an
 * account or a pending invitation already: running a file again invites only the new rows), failed.
 */
export const invitationImportOutcomes = ['invited', 'skipped', 'failed'] as const;
export type InvitationImportOutcome = (typeof invitationImportOutcomes)[number];

export const invitationImportRowResultSchema = z.object({
  index: z.number().int(),
  outcome: z.enum(invitationImportOutcomes),
  /** The invitation made, or the pending one a skipped row's username has. */
  invitation_id: z.uuid().optional(),
  /** The account a skipped row's username has. */
  user_id: z.uuid().optional(),
  /** Why the row failed: field → message (`_` for the row as a whole). */
  errors: z.record(z.string(), z.string()).optional(),
});
export type InvitationImportRowResult = z.infer<typeof invitationImportRowResultSchema>;

export const invitationImportResultSchema = z.object({
  dry_run: z.boolean(),
  counts: z.object(Object.fromEntries(invitationImportOutcomes.map((o) => [o, z.number().int()])) as Record<InvitationImportOutcome, z.ZodNumber>),
  results: z.array(invitationImportRowResultSchema),
});
export type InvitationImportResult = z.infer<typeof invitationImportResultSchema>;
