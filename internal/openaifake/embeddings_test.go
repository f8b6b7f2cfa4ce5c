package openaifake

import (
	"context"
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"
)

func TestEmbeddings(t *testing.T) {
	tests := []struct {
		name     string
		req      openai.EmbeddingRequestConverter
		wantN    int
		wantDims int
	}{
		{"one string", openai.EmbeddingRequest{Input: "opening hours", Model: "m"}, 1, DefaultDimensions},
		{"strings", openai.EmbeddingRequestStrings{Input: []string{"a", "b", "c"}, Model: "m", Dimensions: 64}, 3, 64},
		{"tokens", openai.EmbeddingRequestTokens{Input: [][]int{{1, 2}, {3}}, Model: "m", Dimensions: 8}, 2, 8},
		{"base64", openai.EmbeddingRequestStrings{Input: []string{"x y"}, Model: "m", Dimensions: 16, EncodingFormat: openai.EmbeddingEncodingFormatBase64}, 1, 16},
		{"empty text", openai.EmbeddingRequest{Input: "", Model: "m", Dimensions: 4}, 1, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{})
			defer s.Close()
			resp, err := newClient(s, "k").CreateEmbeddings(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("CreateEmbeddings: %v", err)
			}
			if len(resp.Data) != tt.wantN {
				t.Fatalf("got %d embeddings; want %d", len(resp.Data), tt.wantN)
			}
			for i, e := range resp.Data {
				if e.Index != i || len(e.Embedding) != tt.wantDims {
					t.Errorf("embedding %d: index %d, %d dims; want index %d, %d dims", i, e.Index, len(e.Embedding), i, tt.wantDims)
				}
				if n := norm32(e.Embedding); math.Abs(n-1) > 1e-5 {
					t.Errorf("embedding %d has norm %v; want 1", i, n)
				}
			}
		})
	}
}

func TestEmbedIsDeterministicAndSimilarForSharedWords(t *testing.T) {
	a := Embed("What are the opening hours of the library?", 384)
	if !slices.Equal(a, Embed("What are the opening hours of the library?", 384)) {
		t.Fatal("Embed gave two vectors for one text; want the same")
	}
	near := dot(a, Embed("The library opening hours are nine to five.", 384))
	far := dot(a, Embed("Parking costs two euros per day.", 384))
	if near <= far {
		t.Errorf("similarity with shared words %.3f <= without %.3f; want higher", near, far)
	}
	if Embed("", 3) == nil || len(Embed("x", 0)) != 1 {
		t.Error("Embed with no words or no dims; want a vector anyway")
	}
}

func TestEmbeddingsRejects(t *testing.T) {
	tests := []struct {
		name string
		req  openai.EmbeddingRequest
		want string
	}{
		{"no model", openai.EmbeddingRequest{Input: "x"}, "model is required"},
		{"no input", openai.EmbeddingRequest{Input: []string{}, Model: "m"}, "input must be"},
		{"dims", openai.EmbeddingRequest{Input: "x", Model: "m", Dimensions: 100000}, "dimensions"},
		{"format", openai.EmbeddingRequest{Input: "x", Model: "m", EncodingFormat: "int8"}, "encoding_format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(Options{})
			defer s.Close()
			_, err := newClient(s, "k").CreateEmbeddings(context.Background(), tt.req)
			var apiErr *openai.APIError
			if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusBadRequest || !strings.Contains(apiErr.Message, tt.want) {
				t.Errorf("error = %v; want a 400 mentioning %q", err, tt.want)
			}
		})
	}
}

func norm32(v []float32) float64 {
	return math.Sqrt(dot(v, v))
}

func dot(a, b []float32) float64 {
	var sum float64
	for i := range a {
		sum += float64(a[i]) * float64(b[i])
	}
	return sum
}
