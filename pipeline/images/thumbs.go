package images

// Thumbs loads the image file at path as a size×size thumbnail for a
// figure, as Thumb does; an implementation may keep them in a cache
// (pixels.Thumbs), so that drawing a figure again decodes nothing.
type Thumbs func(path string, size int) (*RGB, error)

// Thumb is Thumbs without a cache: Load at size×size, nearest neighbour.
func Thumb(path string, size int) (*RGB, error) { return Load(path, size, size, Nearest) }
