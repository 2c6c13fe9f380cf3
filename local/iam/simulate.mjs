// One long-lived evaluator for the local stack: each stdin line is a JSON array of iam-simulate
// `Simulation`s, answered by one stdout line, a JSON array of {result, errors} in the same order.
// result is iam-simulate's overallResult: Allowed, ExplicitlyDenied or ImplicitlyDenied.
import { createInterface } from 'node:readline'
import { runSimulation } from '@cloud-copilot/iam-simulate'

async function evaluate(simulation) {
  try {
    const response = await runSimulation(simulation, {})
    if (response.resultType === 'error') {
      return { result: 'Error', errors: response.errors }
    }
    return { result: response.overallResult }
  } catch (error) {
    return { result: 'Error', errors: String(error) }
  }
}

const lines = createInterface({ input: process.stdin, terminal: false })
for await (const line of lines) {
  if (!line.trim()) continue
  const simulations = JSON.parse(line)
  const answers = []
  for (const simulation of simulations) answers.push(await evaluate(simulation))
  process.stdout.write(JSON.stringify(answers) + '\n')
}
