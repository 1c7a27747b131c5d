#include "walk/threads.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pydebug/errors.h"
#include "util/buffer.h"
#include "walk/cycle.h"

void pydbg__thread_list_free(pydbg__thread_list *list)
{
    free(list->items);
    memset(list, 0, sizeof *list);
}

static int first_interpreter(pydbg__target *t, uint64_t *interp)
{
    if (t->runtime && t->layout.runtime.interpreters_head >= 0)
        return pydbg__target_read_ptr(t, t->runtime + (uint64_t)t->layout.runtime.interpreters_head,
                                      interp, "interpreter list");
    if (t->interp_head_var)
        return pydbg__target_read_ptr(t, t->interp_head_var, interp, "interp_head");
    return pydbg__fail(&t->error, PYDBG_ENOTSUP, "no way to find the interpreters");
}

/* The thread state holding the GIL for models with one global holder, 0 if none. */
static int global_gil_holder(pydbg__target *t, uint64_t *holder, int *known)
{
    *holder = 0;
    *known = 1;
    switch (t->layout.gil_model) {
    case PYDBG__GIL_CURRENT_SYMBOL:
        if (t->tstate_current_var)
            return pydbg__target_read_ptr(t, t->tstate_current_var, holder, "current thread");
        break;
    case PYDBG__GIL_RUNTIME_CURRENT:
        if (t->runtime && t->layout.runtime.tstate_current >= 0)
            return pydbg__target_read_ptr(t, t->runtime + (uint64_t)t->layout.runtime.tstate_current,
                                          holder, "current thread");
        break;
    default:
        return PYDBG_OK; /* per interpreter */
    }
    *known = 0;
    return PYDBG_OK;
}

/* 3.12+: each interpreter points to the GIL it uses; the holder is
 * `last_holder` while `locked` is set. */
static int interpreter_gil_holder(pydbg__target *t, uint64_t interp, uint64_t *holder, int *known)
{
    const pydbg__layout *l = &t->layout;
    uint64_t gil, last;
    uint32_t locked;
    int rc;
    *holder = 0;
    *known = 0;
    if (l->interp.ceval_gil < 0 || l->gil.locked < 0 || l->gil.last_holder < 0)
        return PYDBG_OK;
    rc = pydbg__target_read_ptr(t, interp + (uint64_t)l->interp.ceval_gil, &gil, "GIL pointer");
    if (rc != PYDBG_OK || gil == 0)
        return rc;
    rc = pydbg__target_read(t, gil + (uint64_t)l->gil.locked, &locked, sizeof locked, "GIL");
    if (rc == PYDBG_OK)
        rc = pydbg__target_read_ptr(t, gil + (uint64_t)l->gil.last_holder, &last, "GIL holder");
    if (rc != PYDBG_OK)
        return rc;
    *known = 1;
    *holder = locked ? last : 0;
    return PYDBG_OK;
}

static int main_thread_ident(pydbg__target *t, uint64_t *ident, int *known)
{
    *known = 0;
    if (t->runtime && t->layout.runtime.main_thread >= 0) {
        int rc = pydbg__target_read_ptr(t, t->runtime + (uint64_t)t->layout.runtime.main_thread,
                                        ident, "main thread id");
        *known = rc == PYDBG_OK;
        return rc;
    }
    if (t->main_thread_var) {
        int rc = pydbg__target_read_ptr(t, t->main_thread_var, ident, "main thread id");
        *known = rc == PYDBG_OK;
        return rc;
    }
    return PYDBG_OK;
}

/* Reads one thread state. */
static int read_thread(pydbg__target *t, uint64_t tstate, pydbg__thread_rec *rec, uint64_t *next)
{
    const pydbg__layout *l = &t->layout;
    const int32_t fields[] = {l->tstate.next,     l->tstate.interp,    l->tstate.frame,
                              l->tstate.cframe,   l->tstate.thread_id, l->tstate.native_thread_id};
    unsigned char local[512];
    int32_t span = pydbg__span(fields, sizeof fields / sizeof fields[0]);
    int rc;
    if (span > (int32_t)sizeof local)
        return pydbg__fail(&t->error, PYDBG_ECORRUPT, "thread state layout too large");
    rc = pydbg__target_read(t, tstate, local, (size_t)span, "thread state");
    if (rc != PYDBG_OK)
        return rc;
    rec->tstate = tstate;
    rec->interp = pydbg__load_u64(local, l->tstate.interp);
    rec->ident = pydbg__load_u64(local, l->tstate.thread_id);
    rec->native_id = -1;
    if (l->tstate.native_thread_id >= 0) {
        int64_t tid = (int64_t)(int32_t)pydbg__load_u32(local, l->tstate.native_thread_id);
        if (tid > 0)
            rec->native_id = tid;
    }
    if (l->frame_model == PYDBG__FRAME_OBJECTS || l->frame_model == PYDBG__IFRAME_313) {
        rec->top_frame = pydbg__load_u64(local, l->tstate.frame);
    } else {
        uint64_t cframe = pydbg__load_u64(local, l->tstate.cframe);
        rec->top_frame = 0;
        if (cframe) {
            rc = pydbg__target_read_ptr(t, cframe + (uint64_t)l->cframe.current_frame,
                                        &rec->top_frame, "current frame");
            if (rc != PYDBG_OK)
                return rc;
        }
    }
    *next = pydbg__load_u64(local, l->tstate.next);
    return PYDBG_OK;
}

static int append(pydbg__target *t, pydbg__thread_list *list, const pydbg__thread_rec *rec)
{
    void *items = list->items;
    int rc = pydbg__grow_array(&items, &list->capacity, list->count + 1, sizeof *list->items);
    list->items = items;
    if (rc != PYDBG_OK)
        return pydbg__fail(&t->error, rc, "out of memory");
    list->items[list->count++] = *rec;
    return PYDBG_OK;
}

/* ---- native thread IDs before 3.11 -----------------------------------------
 * Thread states record the Linux TID only from 3.11. Before, the ident is a
 * pthread_t, which glibc makes the address of the thread's struct pthread,
 * whose `tid` field holds the TID. The field's offset depends on the glibc
 * build, so it is found once per target: the offset at which every thread's
 * struct holds one of the process's TIDs (from /proc/PID/task), preferring the
 * offset of current x86_64 glibc when it fits. */

#define PTHREAD_SCAN_BYTES 2048
#define GLIBC_X86_64_TID_OFFSET 0x2d0

static size_t read_task_ids(int pid, int32_t *tids, size_t capacity)
{
    char path[64];
    struct dirent *entry;
    size_t count = 0;
    DIR *dir;
    snprintf(path, sizeof path, "/proc/%d/task", pid);
    dir = opendir(path);
    if (!dir)
        return 0;
    while (count < capacity && (entry = readdir(dir)) != NULL) {
        long tid = strtol(entry->d_name, NULL, 10);
        if (tid > 0)
            tids[count++] = (int32_t)tid;
    }
    closedir(dir);
    return count;
}

static int is_task(const int32_t *tids, size_t count, int32_t value)
{
    for (size_t i = 0; i < count; i++)
        if (tids[i] == value)
            return 1;
    return 0;
}

static void calibrate_pthread_tid(pydbg__target *t, const pydbg__thread_list *list)
{
    int32_t tids[1024];
    unsigned char scan[PTHREAD_SCAN_BYTES];
    uint8_t viable[PTHREAD_SCAN_BYTES / 4];
    size_t ntids = 0;
    size_t checked = 0;
    t->pthread_tid_offset = 0; /* calibrated: nothing found unless set below */
    if (t->live)
        ntids = read_task_ids(t->pid, tids, sizeof tids / sizeof tids[0]);
    else
        for (; ntids < t->task_id_count && ntids < sizeof tids / sizeof tids[0]; ntids++)
            tids[ntids] = t->task_ids[ntids];
    if (ntids == 0 || list->count == 0)
        return;
    memset(viable, 1, sizeof viable);
    for (size_t i = 0; i < list->count && checked < 8; i++) {
        if (list->items[i].ident == 0 ||
            pydbg__read(t->reader, list->items[i].ident, scan, sizeof scan) != PYDBG_OK)
            continue;
        checked++;
        for (size_t o = 0; o < sizeof viable; o++)
            viable[o] &= is_task(tids, ntids, (int32_t)pydbg__load_u32(scan, (int32_t)(4 * o)));
    }
    if (checked == 0)
        return;
    if (viable[GLIBC_X86_64_TID_OFFSET / 4]) {
        t->pthread_tid_offset = GLIBC_X86_64_TID_OFFSET;
        return;
    }
    for (size_t o = 0; o < sizeof viable; o++)
        if (viable[o]) {
            t->pthread_tid_offset = (int32_t)(4 * o);
            return;
        }
}

static void infer_native_ids(pydbg__target *t, pydbg__thread_list *list)
{
    if (t->layout.tstate.native_thread_id >= 0 || (!t->live && t->task_id_count == 0))
        return;
    if (t->pthread_tid_offset < 0)
        calibrate_pthread_tid(t, list);
    if (t->pthread_tid_offset <= 0)
        return;
    for (size_t i = 0; i < list->count; i++) {
        int32_t tid;
        if (list->items[i].ident &&
            pydbg__read(t->reader, list->items[i].ident + (uint64_t)t->pthread_tid_offset, &tid,
                        sizeof tid) == PYDBG_OK &&
            tid > 0)
            list->items[i].native_id = tid;
    }
}

/* A thread state is created by the thread that starts a new thread, before
 * the new one runs: until then it has no ident (3.12+) or carries its
 * creator's (up to 3.11), and no frames. Such a state is not a thread yet:
 * it is marked, and left out of what is reported. */
static void mark_unstarted(pydbg__thread_list *list)
{
    for (size_t i = 0; i < list->count; i++) {
        pydbg__thread_rec *rec = &list->items[i];
        int unstarted = rec->ident == 0 && rec->top_frame == 0;
        for (size_t j = 0; j < list->count && !unstarted; j++)
            unstarted = j != i && rec->top_frame == 0 && list->items[j].ident == rec->ident &&
                        list->items[j].interp == rec->interp &&
                        (list->items[j].top_frame != 0 || j > i);
        rec->unstarted = unstarted;
        if (unstarted)
            rec->is_main = 0;
    }
}

static int read_threads_once(pydbg__target *t, pydbg__thread_list *list)
{
    uint64_t interp, global_holder, main_ident = 0;
    int global_known, main_known;
    unsigned interp_count = 0;
    pydbg__cycle_guard interp_guard = PYDBG__CYCLE_GUARD_INIT;
    int rc;
    list->count = 0;
    rc = global_gil_holder(t, &global_holder, &global_known);
    if (rc == PYDBG_OK)
        rc = main_thread_ident(t, &main_ident, &main_known);
    if (rc == PYDBG_OK)
        rc = first_interpreter(t, &interp);
    if (rc != PYDBG_OK)
        return rc;
    if (interp == 0)
        return pydbg__fail(&t->error, PYDBG_ENOTPYTHON,
                           "the interpreter is not initialised (or already finalised)");
    for (; interp; interp_count++) {
        const pydbg__layout *l = &t->layout;
        uint64_t tstate, holder = 0, next_interp;
        int holder_known = global_known;
        int64_t interp_id = interp_count;
        unsigned thread_count = 0;
        size_t first_of_interp = list->count;
        pydbg__cycle_guard guard = PYDBG__CYCLE_GUARD_INIT;
        if (interp_count >= PYDBG__MAX_INTERPRETERS)
            return pydbg__fail(&t->error, PYDBG_ECORRUPT,
                               "more than %u interpreters: the list is torn or corrupt",
                               PYDBG__MAX_INTERPRETERS);
        if (l->interp.id >= 0) {
            rc = pydbg__target_read(t, interp + (uint64_t)l->interp.id, &interp_id,
                                    sizeof interp_id, "interpreter id");
            if (rc != PYDBG_OK)
                return rc;
        }
        if (l->gil_model == PYDBG__GIL_INTERP_STATE) {
            rc = interpreter_gil_holder(t, interp, &holder, &holder_known);
            if (rc != PYDBG_OK)
                return rc;
        } else {
            holder = global_holder;
        }
        rc = pydbg__target_read_ptr(t, interp + (uint64_t)l->interp.tstate_head, &tstate,
                                    "thread list");
        if (rc != PYDBG_OK)
            return rc;
        while (tstate) {
            pydbg__thread_rec rec;
            uint64_t next = 0;
            if (++thread_count > PYDBG__MAX_THREADS)
                return pydbg__fail(&t->error, PYDBG_ECORRUPT,
                                   "more than %u threads: the thread list is torn or corrupt",
                                   PYDBG__MAX_THREADS);
            rc = read_thread(t, tstate, &rec, &next);
            if (rc != PYDBG_OK)
                return rc;
            if (rec.interp != interp)
                return pydbg__fail(&t->error, PYDBG_ECORRUPT,
                                   "thread state 0x%llx belongs to another interpreter "
                                   "(changed while read)",
                                   (unsigned long long)tstate);
            rec.interp_id = interp_id;
            rec.holds_gil = holder_known ? (holder == tstate) : -1;
            rec.is_main = main_known && interp_count == 0 ? rec.ident == main_ident : 0;
            if (!main_known && rec.native_id > 0)
                rec.is_main = rec.native_id == t->pid;
            rc = append(t, list, &rec);
            if (rc != PYDBG_OK)
                return rc;
            if (next && pydbg__cycle_seen(&guard, next))
                return pydbg__fail(&t->error, PYDBG_ECORRUPT, "thread list loops");
            tstate = next;
        }
        /* Without a recorded main thread, the main interpreter's first thread
         * state (the last in its newest-first list) is the main thread's. */
        if (!main_known && interp_count == 0 && list->count > first_of_interp) {
            int any = 0;
            for (size_t i = first_of_interp; i < list->count; i++)
                any |= list->items[i].is_main;
            if (!any)
                list->items[list->count - 1].is_main = 1;
        }
        rc = pydbg__target_read_ptr(t, interp + (uint64_t)l->interp.next, &next_interp,
                                    "next interpreter");
        if (rc != PYDBG_OK)
            return rc;
        if (next_interp && pydbg__cycle_seen(&interp_guard, next_interp))
            return pydbg__fail(&t->error, PYDBG_ECORRUPT, "interpreter list loops");
        interp = next_interp;
    }
    mark_unstarted(list);
    infer_native_ids(t, list);
    return PYDBG_OK;
}

/* Without a pause the thread list can change while it is read: a torn read
 * is retried this many times before giving up. */
#define THREAD_LIST_ATTEMPTS 5

int pydbg__threads_read(pydbg__target *t, pydbg__thread_list *list)
{
    int rc = PYDBG_ECORRUPT;
    for (int attempt = 0; attempt < THREAD_LIST_ATTEMPTS && rc == PYDBG_ECORRUPT; attempt++)
        rc = read_threads_once(t, list);
    return rc;
}
