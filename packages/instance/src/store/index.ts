/** The instance's encrypted object store. The package's public surface re-exports from here. */
export * from './errors.js';
export {
  PERSON_NAMESPACE,
  PERSON_COLLECTIONS,
  MAX_KEY_BYTES,
  type Namespace,
  type PersonCollection,
  appNamespace,
  isNamespace,
} from './names.js';
export { openInstanceDatabase, type InstanceDatabase } from './database.js';
export { SCHEMA_VERSION } from './schema.js';
export { INLINE_MAX, BLOB_KEY_INFO } from './blob-files.js';
export * from './store.js';
