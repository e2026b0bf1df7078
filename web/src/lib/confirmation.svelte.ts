import { placeOf } from './focus-place';

/** What a confirmation asks: the question, what it means, and the button that goes ahead. */
export interface ConfirmRequest {
  title: string;
  message: string;
  confirm: string;
  /** The action cannot be undone or ends someone's access: the button says so in red. */
  danger?: boolean;
  /**
   * Whether what it asks about is still there (a row of a live list): once another admin or tab
   * removed it, there is nothing left to confirm and the question goes, as if cancelled.
   */
  relevant?: () => boolean;
}

/**
 * Actions that end someone's access (revoking a session, signing a user out everywhere, revoking
 * an API key) ask first. One dialog in the app layout (ConfirmDialog) answers every request.
 */
class Confirmation {
  request = $state<ConfirmRequest | null>(null);
  private settle: ((confirmed: boolean) => void) | null = null;
  /** Where focus goes when the question closes once the control that asked it is gone (null while it is there). */
  openerPlace: (() => HTMLElement | null) | null = null;

  /** Resolves true when confirmed, false when cancelled; a new request cancels a pending one. */
  ask(request: ConfirmRequest): Promise<boolean> {
    this.settle?.(false);
    if (!this.request) this.openerPlace = document.activeElement instanceof HTMLElement ? placeOf(document.activeElement) : null;
    this.request = request;
    return new Promise((resolve) => (this.settle = resolve));
  }

  finish(confirmed: boolean) {
    this.settle?.(confirmed);
    this.settle = null;
    this.request = null;
  }
}

export const confirmation = new Confirmation();
