/* tests/unit/test_tensor.c — headers, strides, element access, 16-bit conversions. */
#include <stdint.h>

#include "tensor/tensor.h"
#include "volt_test.h"

VOLT_TEST(wrap_sets_row_major_strides) {
    float data[24];
    volt_tensor t;
    const long shape[] = {2, 3, 4};
    VOLT_EXPECT_OK(volt_tensor_wrap(&t, data, VOLT_F32, 3, shape));
    VOLT_EXPECT_EQ_INT(t.strides[0], 12);
    VOLT_EXPECT_EQ_INT(t.strides[1], 4);
    VOLT_EXPECT_EQ_INT(t.strides[2], 1);
    VOLT_EXPECT_EQ_INT(volt_tensor_numel(&t), 24);
    VOLT_EXPECT_EQ_INT(volt_tensor_nbytes(&t), 96);
    VOLT_EXPECT(volt_tensor_is_contiguous(&t));
    char buf[64];
    VOLT_EXPECT_STR_CONTAINS(volt_tensor_describe(&t, buf, sizeof buf), "f32[2, 3, 4] cpu");
    for (size_t i = 0; i < 24; i++) volt_tensor_set_flat(&t, i, (double)i);
    const long index[] = {1, 2, 3};
    VOLT_EXPECT_NEAR(volt_tensor_get(&t, index), 23, 0);
    /* swap strides: a transposed view reads column-major */
    long s = t.strides[0];
    t.strides[0] = t.strides[2], t.strides[2] = s;
    t.shape[0] = 4, t.shape[2] = 2;
    VOLT_EXPECT(!volt_tensor_is_contiguous(&t));
    VOLT_EXPECT_NEAR(volt_tensor_get_flat(&t, 1), 12, 0);
    const long too_many[] = {1, 1, 1, 1, 1};
    VOLT_EXPECT_FAIL(volt_tensor_wrap(&t, data, VOLT_F32, 5, too_many), VOLT_ERR_SHAPE);
    const long negative[] = {-2};
    VOLT_EXPECT_FAIL(volt_tensor_wrap(&t, data, VOLT_F32, 1, negative), VOLT_ERR_SHAPE);
}

/* A shape whose element or byte count overflows is refused, not wrapped around to a
 * small count (volt_graph_tensor would allocate that and hand out a huge tensor). */
VOLT_TEST(wrap_refuses_sizes_that_overflow) {
    volt_tensor t;
    const long huge[] = {1L << 40, 1L << 40};
    VOLT_EXPECT_FAIL(volt_tensor_wrap(&t, NULL, VOLT_F32, 2, huge), VOLT_ERR_SHAPE);
    const long bytes_overflow[] = {1L << 31, 1L << 31}; /* 2^62 elements, 2^65 bytes */
    VOLT_EXPECT_FAIL(volt_tensor_wrap(&t, NULL, VOLT_F64, 2, bytes_overflow), VOLT_ERR_SHAPE);
    const long empty[] = {0, 5};
    VOLT_EXPECT_OK(volt_tensor_wrap(&t, NULL, VOLT_F32, 2, empty));
    VOLT_EXPECT_EQ_INT(volt_tensor_numel(&t), 0);
}

VOLT_TEST(scalar_has_one_element) {
    double x = 3;
    volt_tensor t;
    VOLT_EXPECT_OK(volt_tensor_wrap(&t, &x, VOLT_F64, 0, NULL));
    VOLT_EXPECT_EQ_INT(volt_tensor_numel(&t), 1);
    VOLT_EXPECT_NEAR(volt_tensor_get_flat(&t, 0), 3, 0);
}

VOLT_TEST(dtype_names_parse) {
    volt_dtype d;
    VOLT_EXPECT_OK(volt_dtype_parse("bfloat16", &d));
    VOLT_EXPECT_EQ_INT(d, VOLT_BF16);
    VOLT_EXPECT_OK(volt_dtype_parse("f64", &d));
    VOLT_EXPECT_EQ_INT(volt_dtype_size(d), 8);
    VOLT_EXPECT_FAIL(volt_dtype_parse("f8", &d), VOLT_ERR_ARG);
}

/* bf16: the top 16 bits of an f32, rounded to nearest even. */
VOLT_TEST(bf16_rounds_to_nearest_even) {
    VOLT_EXPECT_EQ_INT(volt_f32_to_bf16(1.0f), 0x3f80);
    VOLT_EXPECT_EQ_INT(volt_f32_to_bf16(-2.0f), 0xc000);
    /* 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties to even (1.0) */
    VOLT_EXPECT_EQ_INT(volt_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80);
    /* 1 + 3*2^-8 lies halfway between 1+2^-7 (odd) and 1+2^-6: ties to even (up) */
    VOLT_EXPECT_EQ_INT(volt_f32_to_bf16(1.0f + 3 * 0x1p-8f), 0x3f82);
    VOLT_EXPECT(isnan(volt_bf16_to_f32(volt_f32_to_bf16(NAN))));
    VOLT_EXPECT(isinf(volt_bf16_to_f32(volt_f32_to_bf16(INFINITY))));
    VOLT_EXPECT_NEAR(volt_bf16_to_f32(volt_f32_to_bf16(3.140625f)), 3.140625, 0);
}

/* f16 (IEEE binary16) reference values: 1 = 0x3c00, 65504 = 0x7bff (max), 2^-24 = 0x0001
 * (smallest subnormal), 2^-14 = 0x0400 (smallest normal). */
VOLT_TEST(f16_round_trips_and_edges) {
    VOLT_EXPECT_EQ_INT(volt_f32_to_f16(1.0f), 0x3c00);
    VOLT_EXPECT_EQ_INT(volt_f32_to_f16(-2.0f), 0xc000);
    VOLT_EXPECT_EQ_INT(volt_f32_to_f16(65504.0f), 0x7bff);
    VOLT_EXPECT_EQ_INT(volt_f32_to_f16(65520.0f), 0x7c00);   /* rounds to inf */
    VOLT_EXPECT_EQ_INT(volt_f32_to_f16(0x1p-24f), 0x0001);
    VOLT_EXPECT_EQ_INT(volt_f32_to_f16(0x1p-14f), 0x0400);
    VOLT_EXPECT_EQ_INT(volt_f32_to_f16(0x1p-26f), 0x0000);   /* below half the smallest */
    VOLT_EXPECT_EQ_INT(volt_f32_to_f16(1.0f + 0x1p-11f), 0x3c00); /* tie to even */
    VOLT_EXPECT(isnan(volt_f16_to_f32(volt_f32_to_f16(NAN))));
    /* every f16 value converts to f32 and back unchanged */
    int mismatches = 0;
    for (uint32_t h = 0; h < 0x10000; h++) {
        if ((h & 0x7c00) == 0x7c00 && (h & 0x3ff)) continue; /* NaNs */
        if (volt_f32_to_f16(volt_f16_to_f32((uint16_t)h)) != h) mismatches++;
    }
    VOLT_EXPECT_EQ_INT(mismatches, 0);
    VOLT_EXPECT_NEAR(volt_f16_to_f32(0x0001), 0x1p-24, 0);
    VOLT_EXPECT_NEAR(volt_f16_to_f32(0x8001), -0x1p-24, 0);
}

/* Rounding f32 arrays in place gives exactly the f32 value of the 16-bit conversion, for
 * every f32 bit pattern class: normal, ties, subnormal, overflow, inf, NaN. */
VOLT_TEST(round_to_dtype_matches_the_conversions) {
    float values[] = {
        1.0f,   1.0f + 0x1p-8f, 1.0f + 3 * 0x1p-8f, -3.14159f, 65504.0f, 65520.0f,  1e30f,
        -1e30f, 0x1p-24f,       0x1p-26f,           3e-39f,    INFINITY, -INFINITY, 0.1f,
        -0.0f,  0x1.fffffep127f};
    enum { N = sizeof values / sizeof values[0] };
    float bf[N], f16[N], f32[N];
    memcpy(bf, values, sizeof values);
    memcpy(f16, values, sizeof values);
    memcpy(f32, values, sizeof values);
    volt_round_to_dtype(bf, N, VOLT_BF16);
    volt_round_to_dtype(f16, N, VOLT_F16);
    volt_round_to_dtype(f32, N, VOLT_F32);
    for (int i = 0; i < N; i++) {
        float want_bf = volt_bf16_to_f32(volt_f32_to_bf16(values[i]));
        float want_f16 = volt_f16_to_f32(volt_f32_to_f16(values[i]));
        VOLT_EXPECT(memcmp(&bf[i], &want_bf, 4) == 0);
        VOLT_EXPECT(memcmp(&f16[i], &want_f16, 4) == 0);
        VOLT_EXPECT(memcmp(&f32[i], &values[i], 4) == 0);
    }
    VOLT_EXPECT(isinf(f16[5]) && isinf(f16[6]) && f16[7] < 0 && isinf(f16[7]));
    VOLT_EXPECT(isinf(bf[15])); /* the largest f32 rounds up past bf16's largest */
    float nan[3] = {NAN, -NAN, 1.0f};
    volt_round_to_dtype(nan, 3, VOLT_BF16);
    VOLT_EXPECT(isnan(nan[0]) && isnan(nan[1]) && nan[2] == 1.0f);
}

VOLT_TEST(convert_between_dtypes) {
    const float src[] = {1.5f, -2.25f, 3.0f, 1e-3f};
    uint16_t half[4];
    double wide[4];
    int32_t ints[4];
    VOLT_EXPECT_OK(volt_convert(src, VOLT_F32, half, VOLT_BF16, 4));
    VOLT_EXPECT_OK(volt_convert(half, VOLT_BF16, wide, VOLT_F64, 4));
    VOLT_EXPECT_NEAR(wide[1], -2.25, 0);
    VOLT_EXPECT_NEAR(wide[3], 1e-3, 1e-5);
    VOLT_EXPECT_OK(volt_convert(src, VOLT_F32, ints, VOLT_I32, 4));
    VOLT_EXPECT_EQ_INT(ints[1], -2);
    const double odd[] = {NAN, 1e300, -1e300, -2.7};
    int64_t longs[4];
    VOLT_EXPECT_OK(volt_convert(odd, VOLT_F64, ints, VOLT_I32, 4));
    VOLT_EXPECT_EQ_INT(ints[0], 0);
    VOLT_EXPECT_EQ_INT(ints[1], INT32_MAX);
    VOLT_EXPECT_EQ_INT(ints[2], INT32_MIN);
    VOLT_EXPECT_EQ_INT(ints[3], -2);
    VOLT_EXPECT_OK(volt_convert(odd, VOLT_F64, longs, VOLT_I64, 4));
    VOLT_EXPECT(longs[1] > (int64_t)1 << 62 && longs[2] < -((int64_t)1 << 62));
    VOLT_EXPECT_OK(volt_convert(src, VOLT_F32, half, VOLT_F16, 4));
    VOLT_EXPECT_NEAR(volt_f16_to_f32(half[0]), 1.5, 0);
}
