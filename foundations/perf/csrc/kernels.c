/* A small C image kernel, called from Python through ctypes and cffi.
 *
 * Lesson 13, "C and C++ from Python" (lessons/13_cpp). The data block of Lesson 11 turns a batch of
 * decoded images, bytes in height x width x channel order, into normalised floats in channel-first
 * order: three PyTorch operations (permute, divide, normalise), each a pass over the batch. Here it
 * is one pass, in plain C99 with no dependency but the C library.
 */
#include <stdint.h>

/* dst[i, ch, y, x] = (src[i, y, x, ch] / 255 - mean[ch]) / std[ch]
 * src: n*h*w*c bytes (N, H, W, C); dst: n*c*h*w floats (N, C, H, W); mean, std: c floats. */
void normalize_u8_hwc(const uint8_t *src, float *dst, int64_t n, int64_t h, int64_t w, int64_t c,
                      const float *mean, const float *std) {
    for (int64_t i = 0; i < n; ++i) {
        const uint8_t *img = src + i * h * w * c;
        float *out = dst + i * c * h * w;
        for (int64_t ch = 0; ch < c; ++ch) {
            const float scale = 1.0f / (255.0f * std[ch]);  /* one multiply per pixel, no divide */
            const float shift = mean[ch] / std[ch];
            float *plane = out + ch * h * w;
            for (int64_t p = 0; p < h * w; ++p)
                plane[p] = (float)img[p * c + ch] * scale - shift;
        }
    }
}

/* The sum of n floats, in double: the smallest possible C function, for the ctypes signature demo. */
double sum_floats(const float *x, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; ++i) s += x[i];
    return s;
}
