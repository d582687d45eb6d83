import { describe, expect, it } from 'vitest';
import { RouteTable, describeValidation } from '../src/index.js';

describe('RouteTable', () => {
  it('answers the methods of a known path, parameters included, and nothing for an unknown one', () => {
    const t = new RouteTable();
    t.add('/v1/data/:collection/:key', ['GET', 'put']);
    t.add('/v1/data/:collection/:key', 'DELETE');
    t.add('/v1/files/*', 'GET');
    expect(t.allowed('/v1/data/notes/a')).toEqual(['DELETE', 'GET', 'PUT']);
    expect(t.allowed('/v1/data/notes')).toEqual([]);
    expect(t.allowed('/v1/data/notes/a/b')).toEqual([]);
    // Wildcard routes are not tracked (a catch-all would make every path "known").
    expect(t.allowed('/v1/files/x')).toEqual([]);
    // Regex characters in literal segments are literal.
    t.add('/a.b', 'GET');
    expect(t.allowed('/axb')).toEqual([]);
    expect(t.allowed('/a.b')).toEqual(['GET']);
  });
});

describe('describeValidation', () => {
  it('names where and what failed, with every issue', () => {
    const d = describeValidation({
      validationContext: 'querystring',
      validation: [
        {
          instancePath: '/limit',
          message: 'must match pattern',
          keyword: 'pattern',
          params: { pattern: '^[0-9]+$' },
        },
        { message: 'must NOT have additional properties', keyword: 'additionalProperties' },
      ],
    });
    expect(d).toEqual({
      message: 'querystring/limit must match pattern',
      details: {
        location: 'querystring',
        issues: [
          {
            path: '/limit',
            message: 'must match pattern',
            keyword: 'pattern',
            params: { pattern: '^[0-9]+$' },
          },
          { path: '', message: 'must NOT have additional properties', keyword: 'additionalProperties' },
        ],
      },
    });
    expect(describeValidation({})).toBeNull();
  });
});
