/**
 * Sensitive changes to one's own account need the password confirmed within a few minutes
 * (the API answers `reauthentication_required`). The console then asks for it in a dialog
 * (ReauthDialog, in the app layout) and retries the action, so the flow carries on.
 */
class Reauthentication {
  open = $state(false);
  private waiting: Promise<boolean> | null = null;
  private settle: ((confirmed: boolean) => void) | null = null;

  /** Opens the dialog (once, however many actions ask); resolves true once confirmed, false if cancelled. */
  ask(): Promise<boolean> {
    this.waiting ??= new Promise((resolve) => {
      this.settle = resolve;
      this.open = true;
    });
    return this.waiting;
  }

  finish(confirmed: boolean) {
    this.open = false;
    this.settle?.(confirmed);
    this.waiting = null;
    this.settle = null;
  }
}

export const reauth = new Reauthentication();
