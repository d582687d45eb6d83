/**
 * The device side of SELF: this machine's home (`$SELF_HOME`, default ~/.self) holding the
 * person's passphrase-encrypted identity and their session with a SELF cloud, and the client that
 * talks to that cloud.
 */
export * from './home.js';
export * from './identity-file.js';
export * from './passphrase.js';
export * from './session.js';
export * from './cloud-client.js';
export * from './did.js';
export * from './auth.js';
export * from './person.js';
