import { describe, expect, test } from 'vitest';
import { AppError } from '../errors.ts';
import { checkPasswordPolicy, passwordProblem } from './password-policy.ts';

describe('passwordProblem: what is wrong with a password beyond its shape', () => {
  test('a long, uncommon password that names nobody passes', () => {
    expect(passwordProblem('correct horse battery', 12, { username: 'ada', email: 'ada@example.com' })).toBeNull();
  });

  test('shorter than the configured minimum, counted in characters', () => {
    expect(passwordProblem('elevenchars', 12)).toBe('Password must be at least 12 characters');
    expect(passwordProblem('twelve chars', 12)).toBeNull();
    expect(passwordProblem('zq9x', 4)).toBeNull();
  });

  test('one of the 10,000 most common passwords, whatever its case', () => {
    for (const common of ['password', 'PassWord', 'qwerty123', 'iloveyou']) {
      expect(passwordProblem(common, 8), common).toBe('This password is one of the most common ones; choose another');
    }
  });

  test('containing the username, the email or its local part, whatever the case', () => {
    const owner = { username: 'grace.hopper', email: 'admiral@navy.example' };
    for (const password of ['my Grace.Hopper password', 'xx admiral@navy.example xx', 'the ADMIRAL rules ok']) {
      expect(passwordProblem(password, 8, owner), password).toBe('Password must not contain the username or email');
    }
  });

  test('names shorter than three characters are not looked for, and unknown owners are not checked', () => {
    expect(passwordProblem('a long enough phrase', 8, { username: 'al', email: 'ph@x.example' })).toBeNull();
    expect(passwordProblem('a long enough phrase', 8, { username: 42, email: null })).toBeNull();
  });

  test('a value that is not text is left to the schema', () => {
    expect(passwordProblem(12345678, 8)).toBeNull();
    expect(passwordProblem(undefined, 8)).toBeNull();
  });
});

describe('checkPasswordPolicy', () => {
  test('throws validation_failed with the message under the field named', () => {
    const error = (() => {
      try {
        checkPasswordPolicy('short', 12, {}, 'new_password');
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(AppError);
    expect(error).toMatchObject({ code: 'validation_failed', status: 400, fields: { new_password: 'Password must be at least 12 characters' } });
  });

  test('returns quietly for a good password', () => {
    expect(() => checkPasswordPolicy('correct horse battery', 12, { username: 'ada' })).not.toThrow();
  });
});
