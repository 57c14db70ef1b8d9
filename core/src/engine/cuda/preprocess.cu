// SPDX-License-Identifier: MPL-2.0
// Frame -> network input on the GPU: colour conversion, PIL-style resize (stretch or
// letterbox) and normalization in one kernel, one thread per network input pixel.
//
// It repeats core/src/preprocess.rs operation for operation (vertical taps, then horizontal, in
// the same order, compiled without FMA contraction) so both paths give the same floats.

struct Taps {
    int start;   // offset of the start[] array in the int table
    int count;   // offset of count[]
    int first;   // offset of first[] (index into the weight table)
};

struct Plane {
    unsigned long long offset;  // byte offset of the plane in the frame buffer
    int stride;
    int width;                   // samples (pixels) per row at this plane's resolution
    int height;
    Taps h;
    Taps v;
};

struct Params {
    // 0 packed RGB, 1 gray, 2 planar 4:2:0 (Y, U, V), 3 semi-planar 4:2:0, 4 packed 4:2:2
    int kind;
    int bytes;      // packed RGB: bytes per pixel
    int r, g, b;    // packed RGB: byte offsets; 4:2:2: luma, u, v offsets in the macropixel
    int uv_u;       // semi-planar: index of U in the UV pair (0 NV12, 1 NV21)
    int cosited_h;  // YUV: chroma on the even luma columns (else centred between two)
    int cosited_v;  // 4:2:0: chroma on the even luma rows
    float yuv[6];   // luma offset, luma scale, Cr->R, Cb->G, Cr->G, Cb->B (src/frame.rs)
    int in_w, in_h;             // network input size
    int content_w, content_h, pad_x, pad_y;
    int nhwc;
    int as_int;
    float scale[3];
    float offset[3];
    Plane main;     // packed pixels, gray or luma
    Plane cu;       // U (or UV) plane
    Plane cv;       // V plane
};

__device__ __forceinline__ float clamp255(float x) {
    return x < 0.0f ? 0.0f : (x > 255.0f ? 255.0f : x);
}

// YuvToRgb::apply in core/src/frame.rs, operation for operation.
__device__ __forceinline__ void yuv_to_rgb(const float* m, float y, float u, float v, float* rgb) {
    float yv = __fmul_rn(m[1], __fsub_rn(y, m[0]));
    rgb[0] = clamp255(__fadd_rn(yv, __fmul_rn(m[2], v)));
    rgb[1] = clamp255(__fsub_rn(__fsub_rn(yv, __fmul_rn(m[3], u)), __fmul_rn(m[4], v)));
    rgb[2] = clamp255(__fadd_rn(yv, __fmul_rn(m[5], u)));
}

// chroma_taps in core/src/preprocess.rs: neighbours of luma x and the upper one's weight.
__device__ __forceinline__ void chroma_taps(int x, int n, int cosited, int* a, int* b,
                                                float* t) {
    int pos = 2 * x + 1 - (cosited ? 1 : 2);
    int j = pos >= 0 ? pos / 4 : -((-pos + 3) / 4);
    *t = (float)(pos - 4 * j) * 0.25f;
    int last = n - 1;
    *a = j < 0 ? 0 : (j > last ? last : j);
    *b = j + 1 < 0 ? 0 : (j + 1 > last ? last : j + 1);
}

// One chroma value of a 4:2:0 plane (`step` bytes between samples, starting at `first`):
// between rows ya/yb first, then between columns a/b, as row_rgb_420 does.
__device__ __forceinline__ float chroma_420(const unsigned char* frame, const Plane& pl, int step,
                                            int first, int ya, int yb, float ty, int a, int b,
                                            float t) {
    const unsigned char* r0 = frame + pl.offset + (unsigned long long)ya * pl.stride + first;
    const unsigned char* r1 = frame + pl.offset + (unsigned long long)yb * pl.stride + first;
    float ca = __fadd_rn(__fmul_rn((float)r0[a * step], 1.0f - ty),
                         __fmul_rn((float)r1[a * step], ty));
    float cb = __fadd_rn(__fmul_rn((float)r0[b * step], 1.0f - ty),
                         __fmul_rn((float)r1[b * step], ty));
    return __fadd_rn(__fmul_rn(ca, 1.0f - t), __fmul_rn(cb, t));
}

// Source sample (channel c of pixel x in row y) of one plane as float. YUV is converted to RGB
// per source pixel first, as on the CPU (row_rgb_420, row_rgb_422).
__device__ __forceinline__ float sample(const unsigned char* frame, const Params& p,
                                        const Plane& pl, int channels, int x, int y, int c) {
    const unsigned char* row = frame + pl.offset + (unsigned long long)y * pl.stride;
    if (p.kind == 2 || p.kind == 3) {
        int a, b, ya, yb;
        float t, ty;
        chroma_taps(x, p.cu.width, p.cosited_h, &a, &b, &t);
        chroma_taps(y, p.cu.height, p.cosited_v, &ya, &yb, &ty);
        float u, v;
        if (p.kind == 2) {
            u = chroma_420(frame, p.cu, 1, 0, ya, yb, ty, a, b, t);
            v = chroma_420(frame, p.cv, 1, 0, ya, yb, ty, a, b, t);
        } else {
            u = chroma_420(frame, p.cu, 2, p.uv_u, ya, yb, ty, a, b, t);
            v = chroma_420(frame, p.cu, 2, 1 - p.uv_u, ya, yb, ty, a, b, t);
        }
        float rgb[3];
        yuv_to_rgb(p.yuv, (float)row[x], __fsub_rn(u, 128.0f), __fsub_rn(v, 128.0f), rgb);
        return rgb[c];
    }
    if (p.kind == 4) {
        // Packed 4:2:2: chroma interpolated between its two nearest samples.
        int a, b;
        float t;
        chroma_taps(x, (pl.width + 1) / 2, p.cosited_h, &a, &b, &t);
        float u = __fadd_rn(__fmul_rn((float)row[4 * a + p.g], 1.0f - t),
                            __fmul_rn((float)row[4 * b + p.g], t));
        float v = __fadd_rn(__fmul_rn((float)row[4 * a + p.b], 1.0f - t),
                            __fmul_rn((float)row[4 * b + p.b], t));
        float rgb[3];
        yuv_to_rgb(p.yuv, (float)row[2 * x + p.r], __fsub_rn(u, 128.0f), __fsub_rn(v, 128.0f),
                   rgb);
        return rgb[c];
    }
    return (float)row[x * channels + c];
}

// Resamples `n` channels of one plane at output pixel (ox, oy) of the content grid.
__device__ void resample(const unsigned char* frame, const int* ti, const float* tw,
                         const Params& p, const Plane& pl, int channels, int n, int ox, int oy,
                         float* acc) {
    int hs = ti[pl.h.start + ox], hc = ti[pl.h.count + ox], hf = ti[pl.h.first + ox];
    int vs = ti[pl.v.start + oy], vc = ti[pl.v.count + oy], vf = ti[pl.v.first + oy];
    for (int c = 0; c < n; ++c) acc[c] = 0.0f;
    for (int j = 0; j < hc; ++j) {
        float wh = tw[hf + j];
        for (int c = 0; c < n; ++c) {
            float col = 0.0f;
            for (int k = 0; k < vc; ++k) {
                float v = sample(frame, p, pl, channels, hs + j, vs + k, c);
                col = __fadd_rn(col, __fmul_rn(v, tw[vf + k]));
            }
            acc[c] = __fadd_rn(acc[c], __fmul_rn(col, wh));
        }
    }
}

extern "C" __global__ void trtpose_preprocess(const unsigned char* __restrict__ frame,
                                              const int* __restrict__ taps_i,
                                              const float* __restrict__ taps_w, Params p,
                                              void* out) {
    int tx = blockIdx.x * blockDim.x + threadIdx.x;
    int ty = blockIdx.y * blockDim.y + threadIdx.y;
    if (tx >= p.in_w || ty >= p.in_h) return;
    float rgb[3];
    int ox = tx - p.pad_x, oy = ty - p.pad_y;
    bool inside = ox >= 0 && oy >= 0 && ox < p.content_w && oy < p.content_h;
    if (!inside) {
        rgb[0] = rgb[1] = rgb[2] = 0.0f;
    } else if (p.kind == 0) {
        float px[4];
        resample(frame, taps_i, taps_w, p, p.main, p.bytes, p.bytes, ox, oy, px);
        rgb[0] = px[p.r];
        rgb[1] = px[p.g];
        rgb[2] = px[p.b];
    } else if (p.kind == 1) {
        float g;
        resample(frame, taps_i, taps_w, p, p.main, 1, 1, ox, oy, &g);
        rgb[0] = rgb[1] = rgb[2] = g;
    } else {
        // YUV, converted per source pixel in sample().
        resample(frame, taps_i, taps_w, p, p.main, 3, 3, ox, oy, rgb);
    }
    unsigned long long plane = (unsigned long long)p.in_w * p.in_h;
    for (int c = 0; c < 3; ++c) {
        float v = rgb[c];
        if (inside && p.as_int) v = (float)(int)__fadd_rn(clamp255(v), 0.5f);
        v = __fadd_rn(__fmul_rn(v, p.scale[c]), p.offset[c]);
        unsigned long long idx = p.nhwc ? ((unsigned long long)ty * p.in_w + tx) * 3 + c
                                        : c * plane + (unsigned long long)ty * p.in_w + tx;
        if (p.as_int)
            ((int*)out)[idx] = (int)v;
        else
            ((float*)out)[idx] = v;
    }
}
