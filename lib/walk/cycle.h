/* Brent's cycle detection over a chain of remote addresses: no extra reads,
 * no memory, and a loop in torn data is caught within twice its length. */
#ifndef PYDBG_WALK_CYCLE_H
#define PYDBG_WALK_CYCLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct pydbg__cycle_guard {
    uint64_t saved;
    size_t power, steps;
} pydbg__cycle_guard;

#define PYDBG__CYCLE_GUARD_INIT {0, 1, 0}

/* Call with each address of the chain in turn; returns 1 once a loop is seen. */
static inline int pydbg__cycle_seen(pydbg__cycle_guard *g, uint64_t address)
{
    if (address == g->saved)
        return 1;
    if (++g->steps == g->power) {
        g->saved = address;
        g->power *= 2;
        g->steps = 0;
    }
    return 0;
}

#endif
