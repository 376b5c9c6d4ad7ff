/*
 * hive_internal.h - the hive's record array, shared by hive.c and the
 * registry's layering (registry.c). Not part of the public API.
 */
#ifndef VIAL_REGISTRY_HIVE_INTERNAL_H
#define VIAL_REGISTRY_HIVE_INTERNAL_H

#include "registry.h"

struct hive_record {
    enum vial_reg_record_kind kind;
    char *key;
    char *name; /* "" for VIAL_REG_KEY_DELETED */
    struct vial_reg_value value; /* type and text NULL unless VIAL_REG_VALUE */
};

struct vial_hive {
    struct hive_record *records; /* sorted by key, then name; unique */
    size_t count;
    size_t capacity;
};

/* What one layer says about a value. */
enum hive_verdict {
    HIVE_SILENT,  /* nothing: ask the layer below */
    HIVE_FOUND,   /* a value */
    HIVE_DELETED, /* a marker of the value or of one of its keys */
};

const struct hive_record *hive_find(const struct vial_hive *hive, const char *key, const char *name);
enum hive_verdict hive_lookup(const struct vial_hive *hive, const char *key, const char *name,
                              const struct vial_reg_value **value);
/* 1 if key or one of its ancestors carries a key deletion marker. */
int hive_key_deleted(const struct vial_hive *hive, const char *key);
/* 1 if key is ancestor or ancestor's descendant ("" is everything's). */
int hive_key_below(const char *key, const char *ancestor);
/* Removes (key, name)'s record, or with name NULL every record at or below key. */
void hive_drop_below(struct vial_hive *hive, const char *key, const char *name);
int hive_apply_record(struct vial_hive *hive, const struct vial_reg_record *record);
/* A deep copy (an empty hive for NULL); NULL when out of memory. */
struct vial_hive *hive_copy(const struct vial_hive *hive);

#endif
