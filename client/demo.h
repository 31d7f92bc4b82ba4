// `poolcat demo`: replays every example of the seed notebook (D2L's pooling
// chapter, shared/seeds/000_03731dc8b5fa7a4c.txt) through the service and
// prints each result as the notebook printed it.
#ifndef POOLCAT_CLIENT_DEMO_H_
#define POOLCAT_CLIENT_DEMO_H_

#include <ostream>

#include "client/client.h"

namespace poolcat {

// Prints every example with its result and whether it matches the notebook's
// numbers exactly. Returns true iff every call succeeded and matched.
bool RunDemo(Client& client, const CallOptions& call, std::ostream& out);

}  // namespace poolcat

#endif  // POOLCAT_CLIENT_DEMO_H_
