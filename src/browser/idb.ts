// Checkpoints in IndexedDB: the page keeps a run across reloads without a server.
const DB = 'ganomaly-edge';
const STORE = 'checkpoints';

function open(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function tx<T>(mode: IDBTransactionMode, f: (s: IDBObjectStore) => IDBRequest<T>): Promise<T> {
  const db = await open();
  try {
    return await new Promise<T>((resolve, reject) => {
      const req = f(db.transaction(STORE, mode).objectStore(STORE));
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  } finally {
    db.close();
  }
}

// Named for IndexedDB: the toolkit's loadCheckpoint reads a run folder on disk.
export const saveIdbCheckpoint = (key: string, bytes: Uint8Array): Promise<IDBValidKey> => tx('readwrite', (s) => s.put(bytes, key));
export const loadIdbCheckpoint = (key: string): Promise<Uint8Array | undefined> => tx('readonly', (s) => s.get(key) as IDBRequest<Uint8Array | undefined>);
export const deleteIdbCheckpoint = (key: string): Promise<undefined> => tx('readwrite', (s) => s.delete(key));

/** @deprecated Renamed saveIdbCheckpoint. */
export const saveCheckpoint = saveIdbCheckpoint;
/** @deprecated Renamed loadIdbCheckpoint (the toolkit's loadCheckpoint reads a run folder). */
export const loadCheckpoint = loadIdbCheckpoint;
/** @deprecated Renamed deleteIdbCheckpoint. */
export const deleteCheckpoint = deleteIdbCheckpoint;
