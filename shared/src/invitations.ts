import { z } from 'zod';
import { displayNameSchema, emailSchema, passwordSchema, roleSchema, userSchema, usernameSchema } from './schemas.ts';

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
export const invitationListSchema = z.object({ items: z.array(invitationSchema) });

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
