package embed

import (
	"context"
	"math"
)

// Embedder turns texts into vectors for nearest-neighbour search.
type Embedder interface {
	// Embed returns one unit-length vector of Dims() values per text, in
	// the order of texts. An empty list gives an empty result. A text with
	// nothing to embed fails the whole call with ErrEmptyText.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Dims is the length of every vector, which sizes the vector(N)
	// column the vectors are stored in.
	Dims() int
	// Name identifies the embedder, its model and its dimensions, such as
	// "hashing-v1-384" or "openai:text-embedding-3-small:1536". It is
	// stored with the vectors, so that a change of embedder is noticed.
	Name() string
}

// normalize scales v to unit length in place. It reports false, leaving v
// unchanged, when v has no length or holds a NaN or an infinity.
func normalize(v []float32) bool {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 || math.IsNaN(sum) || math.IsInf(sum, 0) {
		return false
	}
	scale := 1 / math.Sqrt(sum)
	for i, x := range v {
		v[i] = float32(float64(x) * scale)
	}
	return true
}
