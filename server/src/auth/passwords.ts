import { hash, verify } from '@node-rs/argon2';

// argon2id with the OWASP-recommended parameters (19 MiB, 2 iterations, 1 lane). @node-rs/argon2 defaults to argon2id.
const options = { memoryCost: 19456, timeCost: 2, parallelism: 1 };

export function hashPassword(password: string): Promise<string> {
  return hash(password, options);
}

export function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  return verify(passwordHash, password).catch(() => false);
}

// Verified against when the login names no user, so an unknown user costs the same time as a wrong password.
let dummyHash: Promise<string> | undefined;

export async function verifyAgainstDummy(password: string): Promise<false> {
  dummyHash ??= hashPassword('roster-timing-equaliser');
  await verifyPassword(await dummyHash, password);
  return false;
}
