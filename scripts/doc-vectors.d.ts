/**
 * Reads the test vectors pinned in a docs/ file. A vector block is a fenced code block whose info
 * string is `json vector <name>`; its body is JSON. Tests check the code against these blocks,
 * so the documentation cannot drift from the implementation.
 */
export declare function readDocVectors(docRelativePath: string): Map<string, unknown>;
export declare function docVector<T>(docRelativePath: string, name: string): T;
