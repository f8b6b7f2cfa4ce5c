package embed

// maxStopRunes is the length of the longest stop word.
const maxStopRunes = 7

// stopWords are common English function words. They say little about what
// a text is about, so Hashing weighs them less; they still count, since
// "who" and "where" ask different questions.
var stopWords = func() map[string]struct{} {
	words := []string{
		"a", "an", "the", "and", "or", "but", "nor", "if", "then", "than", "so",
		"of", "to", "in", "on", "at", "by", "for", "with", "from", "as", "into",
		"onto", "about", "over", "under", "up", "down", "out", "off",
		"is", "are", "was", "were", "be", "been", "being", "am",
		"do", "does", "did", "done", "have", "has", "had",
		"will", "would", "shall", "should", "can", "could", "may", "might", "must",
		"it", "its", "this", "that", "these", "those", "there", "here",
		"i", "you", "he", "she", "we", "they", "me", "him", "her", "us", "them",
		"my", "your", "his", "our", "their", "not", "no", "too", "very", "just",
		"also", "what", "when", "where", "which", "who", "whom", "whose", "why", "how",
	}
	m := make(map[string]struct{}, len(words))
	for _, w := range words {
		m[w] = struct{}{}
	}
	return m
}()

// isStopWord reports whether w, lower-cased, is a stop word.
func isStopWord(w []byte) bool {
	_, ok := stopWords[string(w)]
	return ok
}
