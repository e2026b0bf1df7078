import type { bulkActions } from '@roster/shared';

export type BulkAction = (typeof bulkActions)[number];

/** How each bulk action reads: on the bar's button, in the dialog's title, and what it will do. */
export const bulkWording: Record<BulkAction, { button: string; verb: string; consequence: string }> = {
  activate: { button: 'Activate', verb: 'Activate', consequence: 'The selected users will be able to sign in again.' },
  deactivate: {
    button: 'Deactivate',
    verb: 'Deactivate',
    consequence: 'Deactivated users are signed out everywhere at once and cannot sign in until reactivated.',
  },
  set_role: { button: 'Change role', verb: 'Change role of', consequence: 'Choose the new role. It applies on their very next request.' },
  delete: { button: 'Delete', verb: 'Delete', consequence: 'This deletes the selected accounts with their sessions and API keys. It cannot be undone.' },
};
