"""Pure domain code: parsing, paper identity, composing, planning, search queries. No I/O."""
