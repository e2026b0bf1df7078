import { apiRoutes, routeTarget, type ErrorBody, type RequestArgs, type ResponseOf, type RouteCall, type RouteKey, type User } from '@roster/shared';
import type { TestServer } from './server.ts';

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

/**
 * What a route answered: `body` as the route's response schema types it (what a success carries);
 * when it answered an error, `error` (the error body's `error`) and, for a version conflict,
 * `current` (the record as it is now).
 */
export interface RouteResponse<K extends RouteKey> extends ApiResponse<ResponseOf<K>> {
  error: ErrorBody['error'] | undefined;
  current: unknown;
}

/** An HTTP client with its own cookie jar, sending the server's Origin unless told otherwise. */
export class ApiClient {
  /** The session cookie (`roster_session=…`, behind HTTPS with a prefix), also what sockets are opened with. */
  cookie: string | undefined;
  /** The device cookie a sign-in sets (`roster_device=…`): this browser signed in before. */
  deviceCookie: string | undefined;
  /** A sign-in awaiting its second factor (`roster_pending_login=…`). */
  pendingCookie: string | undefined;

  constructor(
    readonly server: TestServer,
    readonly defaults: { origin?: string | null; headers?: Record<string, string> } = {},
  ) {}

  /**
   * Calls a route of the shared route table, typed by its schemas as the console's `api` is:
   * `client.api('PATCH /users/:id', { params: { id }, body })` resolves with the status, the headers,
   * the body as the route's response schema types it, and the error when it answered one. For
   * bodies a schema forbids (the bad inputs), use the untyped `post`, `patch`… below.
   */
  api<K extends RouteKey>(route: K, ...request: RequestArgs<K>): Promise<RouteResponse<K>>;
  // The declaration above checks the request against the route; the answer is passed on as its
  // response schema types it, for the test to assert on.
  async api(route: RouteKey, request: RouteCall = {}): Promise<RouteResponse<RouteKey>> {
    const { method, path } = routeTarget(route, request);
    const response = await this.request(method, `/api/v1${path}`, request.body);
    const failed = response.status >= 400 ? (response.body as (Partial<ErrorBody> & { current?: unknown }) | undefined) : undefined;
    return { ...response, error: failed?.error, current: failed?.current };
  }

  /** Calls a route that must answer its success status (200, or the route's own); resolves with its answer. */
  ok<K extends RouteKey>(route: K, ...request: RequestArgs<K>): Promise<ResponseOf<K>>;
  async ok(route: RouteKey, request?: RouteCall): Promise<unknown> {
    const response = await this.api(route, request as never);
    const spec = apiRoutes[route];
    const expected = 'status' in spec && typeof spec.status === 'number' ? spec.status : 200;
    if (response.status !== expected) throw new Error(`${route} answered ${response.status}, not ${expected}: ${JSON.stringify(response.body)}`);
    return response.body;
  }

  async request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    options: { headers?: Record<string, string>; rawBody?: string } = {},
  ): Promise<ApiResponse<T>> {
    const headers: Record<string, string> = { ...this.defaults.headers, ...options.headers };
    const origin = this.defaults.origin === undefined ? this.server.origin : this.defaults.origin;
    if (origin !== null) headers.origin ??= origin;
    const cookies = [this.cookie, this.deviceCookie, this.pendingCookie].filter(Boolean);
    if (cookies.length > 0) headers.cookie ??= cookies.join('; ');
    if (body !== undefined || options.rawBody !== undefined) headers['content-type'] ??= 'application/json';
    const response = await fetch(this.server.url + path, {
      method,
      headers,
      body: options.rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    this.keepCookie(response.headers.getSetCookie());
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, headers: response.headers, body: parsed as T };
  }

  get = <T = any>(path: string) => this.request<T>('GET', path);
  post = <T = any>(path: string, body?: unknown) => this.request<T>('POST', path, body);
  patch = <T = any>(path: string, body?: unknown) => this.request<T>('PATCH', path, body);
  put = <T = any>(path: string, body?: unknown) => this.request<T>('PUT', path, body);
  delete = <T = any>(path: string) => this.request<T>('DELETE', path);

  async signIn(login: string, password: string): Promise<User> {
    const response = await this.api('POST /auth/login', { body: { login, password } });
    if (response.status !== 200 || !('user' in response.body)) throw new Error(`sign-in failed: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body.user;
  }

  /** Signs in with two factors: the password, then `second` (`{code}` or `{recovery_code}`). */
  async signInWithSecondFactor(login: string, password: string, second: { code: string } | { recovery_code: string }): Promise<User> {
    const first = await this.api('POST /auth/login', { body: { login, password } });
    if (first.status !== 200 || !('second_factor_required' in first.body)) throw new Error(`sign-in's first step: ${first.status} ${JSON.stringify(first.body)}`);
    const response = await this.api('POST /auth/second-factor', { body: second });
    if (response.status !== 200) throw new Error(`sign-in's second step failed: ${response.status} ${JSON.stringify(response.body)}`);
    return response.body.user;
  }

  /** The raw session token from the cookie jar. */
  get sessionToken(): string | undefined {
    return this.cookie?.match(/roster_session=([^;]+)/)?.[1]; // behind HTTPS, `__Host-roster_session`
  }

  private keepCookie(setCookies: string[]) {
    for (const header of setCookies) {
      const [pair] = header.split(';');
      const [name, value] = pair!.split('=');
      const expired = /max-age=0/i.test(header) || value === '';
      if (name?.endsWith('roster_session')) this.cookie = expired ? undefined : `${name}=${value}`;
      if (name === 'roster_device') this.deviceCookie = expired ? undefined : `roster_device=${value}`;
      if (name === 'roster_pending_login') this.pendingCookie = expired ? undefined : `roster_pending_login=${value}`;
    }
  }
}
