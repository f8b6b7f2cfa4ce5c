package openaifake

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"strconv"
	"strings"
	"unicode"
)

// Embedding sizes.
const (
	// DefaultDimensions is the length of embeddings when the request does
	// not ask for one.
	DefaultDimensions = 384
	// maxDimensions bounds the requested length.
	maxDimensions = 8192
)

// embeddingRequest holds the fields of an embeddings request the fake reads.
type embeddingRequest struct {
	Input          json.RawMessage `json:"input"`
	Model          string          `json:"model"`
	Dimensions     int             `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

// texts returns the inputs as strings: a string, a list of strings, a list
// of token ids or a list of lists of token ids (ids become their decimal
// words).
func (req *embeddingRequest) texts() ([]string, error) {
	var one string
	if err := json.Unmarshal(req.Input, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(req.Input, &many); err == nil && len(many) > 0 {
		return many, nil
	}
	var tokens []int
	if err := json.Unmarshal(req.Input, &tokens); err == nil && len(tokens) > 0 {
		return []string{joinTokens(tokens)}, nil
	}
	var batches [][]int
	if err := json.Unmarshal(req.Input, &batches); err == nil && len(batches) > 0 {
		out := make([]string, len(batches))
		for i, b := range batches {
			out[i] = joinTokens(b)
		}
		return out, nil
	}
	return nil, errors.New("input must be a string, a non-empty list of strings or a list of token ids")
}

func joinTokens(tokens []int) string {
	parts := make([]string, len(tokens))
	for i, t := range tokens {
		parts[i] = strconv.Itoa(t)
	}
	return strings.Join(parts, " ")
}

type (
	embeddingList struct {
		Object string          `json:"object"`
		Data   []embeddingItem `json:"data"`
		Model  string          `json:"model"`
		Usage  embeddingUsage  `json:"usage"`
	}
	embeddingItem struct {
		Object    string `json:"object"`
		Embedding any    `json:"embedding"` // []float32, or a base64 string
		Index     int    `json:"index"`
	}
	embeddingUsage struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	}
)

// handleEmbeddings serves POST /v1/embeddings.
func (s *Server) handleEmbeddings(w http.ResponseWriter, r *http.Request) {
	var (
		req   embeddingRequest
		texts []string
	)
	_, ok := s.admit(w, r, EndpointEmbeddings, func(r *http.Request) (map[string]any, error) {
		record, err := readJSON(r, &req)
		if err != nil {
			return record, err
		}
		if req.Model == "" {
			return record, errors.New("model is required")
		}
		if req.Dimensions < 0 || req.Dimensions > maxDimensions {
			return record, fmt.Errorf("dimensions %d is outside 1..%d", req.Dimensions, maxDimensions)
		}
		if f := req.EncodingFormat; f != "" && f != "float" && f != "base64" {
			return record, fmt.Errorf("encoding_format %q is not float or base64", f)
		}
		texts, err = req.texts()
		return record, err
	})
	if !ok {
		return
	}
	dims := req.Dimensions
	if dims == 0 {
		dims = DefaultDimensions
	}
	out := embeddingList{Object: "list", Model: req.Model, Data: make([]embeddingItem, len(texts))}
	for i, text := range texts {
		vec := Embed(text, dims)
		item := embeddingItem{Object: "embedding", Index: i, Embedding: vec}
		if req.EncodingFormat == "base64" {
			raw := make([]byte, 0, 4*len(vec))
			for _, x := range vec {
				raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(x))
			}
			item.Embedding = base64.StdEncoding.EncodeToString(raw)
		}
		out.Data[i] = item
		out.Usage.PromptTokens += len(strings.Fields(text))
	}
	out.Usage.TotalTokens = out.Usage.PromptTokens
	writeJSON(w, http.StatusOK, out)
}

// Embed returns the fake's embedding of text: a deterministic unit vector of
// length dims (at least 1). Each lower-cased word adds ±1 at a position
// chosen by its hash, so texts that share words point in similar directions,
// which keeps retrieval tests meaningful. A text without words gets a
// pseudo-random vector seeded by its bytes.
func Embed(text string, dims int) []float32 {
	dims = max(dims, 1)
	v := make([]float64, dims)
	isWord := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !isWord(r) }) {
		h := hash64(w)
		if h>>63 == 0 {
			v[h%uint64(dims)]++
		} else {
			v[h%uint64(dims)]--
		}
	}
	if norm(v) == 0 {
		state := hash64(text)
		for i := range v {
			state = splitmix64(state)
			v[i] = float64(int64(state)) / math.MaxInt64
		}
	}
	n := norm(v)
	out := make([]float32, dims)
	for i, x := range v {
		out[i] = float32(x / n)
	}
	return out
}

func norm(v []float64) float64 {
	var sum float64
	for _, x := range v {
		sum += x * x
	}
	return math.Sqrt(sum)
}

func hash64(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}

// splitmix64 mixes x into a new pseudo-random state, as a SplitMix64 step does.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
