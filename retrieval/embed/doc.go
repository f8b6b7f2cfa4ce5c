// Package embed turns text into vectors for knowledge retrieval. Chunks of a
// document are embedded when they are stored and a question is embedded when
// it is asked; PostgreSQL with pgvector then finds the chunks nearest to the
// question by cosine distance.
//
// Two embedders satisfy Embedder:
//
//   - Hashing works offline and needs no model: it hashes words, word pairs
//     and the character n-grams of words into a fixed number of dimensions
//     (the hashing trick). Texts that share words, or parts of words, come
//     out close; it knows nothing of synonyms.
//   - OpenAI sends texts in batches to an OpenAI-compatible /v1/embeddings
//     endpoint, retrying a batch when that may help.
//
// Every vector an Embedder returns has unit length, so cosine distance and
// inner product rank the same. An embedder's Name is stored with the
// vectors it made: vectors from two embedders (or two sizes of one) must
// never be compared, and a changed Name means the chunks need embedding
// again.
package embed
